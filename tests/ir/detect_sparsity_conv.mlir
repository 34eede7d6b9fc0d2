// RUN: sparsile opt -p detect-sparsity --split-input-file %s | filecheck %s

// A conv filter [F, C, KH, KW] is measured as the [F, C*KH*KW] matrix: 3 nonzeros in 2x18 is
// unstructured; the filter gets the 4-D CSR encoding and the record the matrix shape and the
// output positions (N*OH*OW = 1*2*2) as its rows.
// CHECK: #[[CSR:.*]] = #sparse_tensor.encoding<{ map = (d0, d1, d2, d3) -> (d0 : dense, d1 : compressed, d2 : compressed, d3 : compressed) }>
// CHECK-LABEL: func.func @unstructured_filter
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "conv.weight", sparsile.sparsity = {batch_rows = 4 : i64, {{.*}}in_features = 18 : i64{{.*}}out_features = 2 : i64, pattern = "csr"
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]] : tensor<2x2x3x3xf32> to tensor<2x2x3x3xf32, #[[CSR]]>
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %[[S]] : tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32, #[[CSR]]>)
func.func @unstructured_filter(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant {sparsile.name = "conv.weight"} dense<[[[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
                                                            [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x2x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x3x3xf32>) outs(%acc : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// Half the filters removed (torch.nn.utils.prune.ln_structured on dim 0): channels.
// CHECK: #[[CHANNELS:.*]] = #sparse_tensor.encoding<{ map = (d0, d1, d2, d3) -> (d0 : compressed, d1 : dense, d2 : dense, d3 : dense) }>
// CHECK-LABEL: func.func @pruned_filters
// CHECK: sparsile.sparsity = {{{.*}}detected = "channels; 1/2 rows empty"{{.*}}pattern = "channels"
// CHECK: sparse_tensor.convert {{.*}} to tensor<2x1x3x3xf32, #[[CHANNELS]]>
func.func @pruned_filters(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant {sparsile.name = "conv.weight"} dense<[[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x1x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32>) outs(%acc : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A depthwise filter [C, 1, KH, KW] reaches its convolution through a reshape to [C, KH, KW];
// it is read as [C, KH*KW] (one input channel per filter) and converted before the reshape.
// CHECK: #[[CSR4:.*]] = #sparse_tensor.encoding<{ map = (d0, d1, d2, d3) -> (d0 : dense, d1 : compressed, d2 : compressed, d3 : compressed) }>
// CHECK-LABEL: func.func @depthwise
// CHECK: %[[W:.*]] = arith.constant {sparsile.intent = "pruned", sparsile.name = "dw.weight", sparsile.sparsity = {{{.*}}in_features = 9 : i64{{.*}}out_features = 2 : i64, pattern = "csr"
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]] : tensor<2x1x3x3xf32> to tensor<2x1x3x3xf32, #[[CSR4]]>
// CHECK: tensor.collapse_shape %[[S]]
// CHECK: linalg.depthwise_conv_2d_nchw_chw
func.func @depthwise(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant {sparsile.name = "dw.weight", sparsile.intent = "pruned"} dense<[[[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]], [[[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]]> : tensor<2x1x3x3xf32>
  %wc = tensor.collapse_shape %w [[0, 1], [2], [3]] : tensor<2x1x3x3xf32> into tensor<2x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2x2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %y = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %wc : tensor<1x2x4x4xf32>, tensor<2x3x3xf32>) outs(%acc : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// An NHWC filter [KH, KW, C, F] is read as [F, C*KH*KW] too: a 1x1 filter is [F, C].
// CHECK-LABEL: func.func @nhwc_pointwise
// CHECK: sparsile.sparsity = {batch_rows = 16 : i64, {{.*}}in_features = 4 : i64{{.*}}out_features = 2 : i64, pattern = "csr"
// CHECK: sparse_tensor.convert
// CHECK: linalg.conv_2d_nhwc_hwcf
func.func @nhwc_pointwise(%x: tensor<1x4x4x4xf32>) -> tensor<1x4x4x2xf32> {
  %w = arith.constant {sparsile.name = "pw.weight"} dense<[[[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 2.0]]]]> : tensor<1x1x4x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x4x4x4xf32>, tensor<1x1x4x2xf32>) outs(%acc : tensor<1x4x4x2xf32>) -> tensor<1x4x4x2xf32>
  return %y : tensor<1x4x4x2xf32>
}
