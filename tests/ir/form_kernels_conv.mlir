// RUN: sparsile opt -p form-kernels,canonicalize --split-input-file %s | filecheck %s

// A sparse NCHW convolution becomes a sparsile.conv on the same padded input: the storage is
// the filter as its [F, C*KH*KW] matrix (a copy named like it), the bias comes from the
// broadcast accumulator, and window, strides and dilations come from the convolution.
// CHECK-LABEL: func.func @nchw
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x9x9xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant {sparsile.name = "conv.weight"} dense<{{\[}}[1.000000e+00, {{.*}}]]> : tensor<2x18xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant {{.*}}dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
// CHECK: %[[Y:.*]] = "sparsile.conv"(%[[X]], %[[W]], %[[B]]) {dilations = [2, 2], epilogue = "none", format = "dense", groups = 1 : i64, in_features = 18 : i64, layer = "conv.weight", {{.*}}out_features = 2 : i64, params = {}, pattern = "csr", {{.*}}strides = [2, 2], tiles = {}, window = [3, 3]} : (tensor<1x2x9x9xf32>, tensor<2x18xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NOT: linalg.conv_2d_nchw_fchw
// CHECK-NOT: sparse_tensor.convert
// CHECK: return %[[Y]]
#csr4 = #sparse_tensor.encoding<{map = (d0, d1, d2, d3) -> (d0 : dense, d1 : compressed, d2 : compressed, d3 : compressed)}>
func.func @nchw(%x: tensor<1x2x9x9xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant {sparsile.name = "conv.weight"} dense<[[[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
                                                            [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %s = sparse_tensor.convert %w : tensor<2x2x3x3xf32> to tensor<2x2x3x3xf32, #csr4>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %acc = linalg.broadcast ins(%b : tensor<2xf32>) outs(%e : tensor<1x2x3x3xf32>) dimensions = [0, 2, 3]
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%x, %s : tensor<1x2x9x9xf32>, tensor<2x2x3x3xf32, #csr4>) outs(%acc : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// A 1x1 NHWC convolution is a matmul over channels at every position: the input viewed as
// [N*H*W, C] (every second row and column of it for strides 2), the filter [1, 1, C, F] as
// [F, C], the result reshaped back to NHWC.
// CHECK-LABEL: func.func @nhwc_pointwise_strided
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x4x4xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant {sparsile.name = "pw.weight"} dense<{{\[}}[1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 2.000000e+00]]> : tensor<2x4xf32>
// CHECK: %[[S:.*]] = tensor.extract_slice %[[X]][0, 0, 0, 0] [1, 2, 2, 4] [1, 2, 2, 1] : tensor<1x4x4x4xf32> to tensor<1x2x2x4xf32>
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[S]] {{\[}}[0, 1, 2], [3]] : tensor<1x2x2x4xf32> into tensor<4x4xf32>
// CHECK: %[[K:.*]] = "sparsile.matmul"(%[[R]], %[[W]]) {{.*}}pattern = "csr"{{.*}} : (tensor<4x4xf32>, tensor<2x4xf32>) -> tensor<4x2xf32>
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[K]] {{\[}}[0, 1, 2], [3]] output_shape [1, 2, 2, 2] : tensor<4x2xf32> into tensor<1x2x2x2xf32>
// CHECK: return %[[Y]]
#csr4 = #sparse_tensor.encoding<{map = (d0, d1, d2, d3) -> (d0 : dense, d1 : compressed, d2 : compressed, d3 : compressed)}>
func.func @nhwc_pointwise_strided(%x: tensor<1x4x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant {sparsile.name = "pw.weight"} dense<[[[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 2.0]]]]> : tensor<1x1x4x2xf32>
  %s = sparse_tensor.convert %w : tensor<1x1x4x2xf32> to tensor<1x1x4x2xf32, #csr4>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%x, %s : tensor<1x4x4x4xf32>, tensor<1x1x4x2xf32, #csr4>) outs(%acc : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A 3x3 NHWC convolution stays dense, with the reason in its record.
// CHECK-LABEL: func.func @nhwc_window
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}}sparsile.sparsity = {{{.*}}fallback = "an NHWC 3x3 convolution: sparse NHWC convolutions are 1x1 only"{{.*}}format = "dense"
// CHECK-NOT: sparsile.conv
#csr4 = #sparse_tensor.encoding<{map = (d0, d1, d2, d3) -> (d0 : dense, d1 : compressed, d2 : compressed, d3 : compressed)}>
func.func @nhwc_window(%x: tensor<1x3x3x1xf32>) -> tensor<1x1x1x1xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[[[1.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[0.0]]], [[[0.0]], [[0.0]], [[2.0]]]]> : tensor<3x3x1x1xf32>
  %s = sparse_tensor.convert %w : tensor<3x3x1x1xf32> to tensor<3x3x1x1xf32, #csr4>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x1x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %s : tensor<1x3x3x1xf32>, tensor<3x3x1x1xf32, #csr4>) outs(%acc : tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
  return %y : tensor<1x1x1x1xf32>
}

// -----

// A grouped convolution (2 groups) is read through the reshapes that split its channels: the
// kernel takes the NCHW input, holds the [F, C/G*KH*KW] filter and its groups, and replaces the
// collapse that merged the groups back; the bias comes from the broadcast under the accumulator's reshape.
// CHECK-LABEL: func.func @grouped
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x3x3xf32>)
// CHECK: %[[Y:.*]] = "sparsile.conv"(%[[X]], %{{.*}}, %{{.*}}) {{.*}}groups = 2 : i64, in_features = 2 : i64{{.*}}out_features = 2 : i64{{.*}}window = [1, 1]} : (tensor<1x4x3x3xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
// CHECK-NOT: linalg.conv_2d_ngchw_gfchw
// CHECK: return %[[Y]]
#csr4 = #sparse_tensor.encoding<{map = (d0, d1, d2, d3) -> (d0 : dense, d1 : compressed, d2 : compressed, d3 : compressed)}>
func.func @grouped(%x: tensor<1x4x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant {sparsile.name = "g.weight"} dense<[[[[1.0]], [[0.0]]], [[[0.0]], [[2.0]]]]> : tensor<2x2x1x1xf32>
  %s = sparse_tensor.convert %w : tensor<2x2x1x1xf32> to tensor<2x2x1x1xf32, #csr4>
  %wg = tensor.expand_shape %s [[0, 1], [2], [3], [4]] output_shape [2, 1, 2, 1, 1] : tensor<2x2x1x1xf32, #csr4> into tensor<2x1x2x1x1xf32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %e = tensor.empty() : tensor<1x2x3x3xf32>
  %acc = linalg.broadcast ins(%b : tensor<2xf32>) outs(%e : tensor<1x2x3x3xf32>) dimensions = [0, 2, 3]
  %accg = tensor.expand_shape %acc [[0], [1, 2], [3], [4]] output_shape [1, 2, 1, 3, 3] : tensor<1x2x3x3xf32> into tensor<1x2x1x3x3xf32>
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 3, 3] : tensor<1x4x3x3xf32> into tensor<1x2x2x3x3xf32>
  %yg = linalg.conv_2d_ngchw_gfchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%xg, %wg : tensor<1x2x2x3x3xf32>, tensor<2x1x2x1x1xf32>) outs(%accg : tensor<1x2x1x3x3xf32>) -> tensor<1x2x1x3x3xf32>
  %y = tensor.collapse_shape %yg [[0], [1, 2], [3], [4]] : tensor<1x2x1x3x3xf32> into tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}
