// RUN: sparsile opt -p form-kernels,canonicalize --split-input-file %s | filecheck %s

// A sparse matmul becomes a kernel whose storage is the weight constant itself (format
// dense: schedule packs it); the pattern comes from the encoding, read through EncodingAttr.
// CHECK-LABEL: func.func @csr
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>)
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w"} dense<{{.*}}> : tensor<3x4xf32>
// CHECK: %[[Y:.*]] = "sparsile.matmul"(%[[X]], %[[W]]) {epilogue = "none", format = "dense", in_features = 4 : i64, layer = "w", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>, out_features = 3 : i64, params = {}, pattern = "csr", scale = 1.000000e+00 : f32, sparsile.sparsity = {{{.*}}source = "declared"{{.*}}}, tiles = {}} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
// CHECK-NOT: linalg.matmul
// CHECK-NOT: sparse_tensor.convert
// CHECK: return %[[Y]]
func.func @csr(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[1.0, 0.0, 0.0, 2.0],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 3.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %s = sparse_tensor.convert %w : tensor<3x4xf32> to tensor<3x4xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>>
  %e = tensor.empty() : tensor<4x3xf32>
  %wt = linalg.transpose ins(%s : tensor<3x4xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>>) outs(%e : tensor<4x3xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x3xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x4xf32>, tensor<4x3xf32>) outs(%acc : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// 2:4 (structured[2, 4] levels).
// CHECK-LABEL: func.func @nm
// CHECK: "sparsile.matmul"({{.*}}) {{.*}}format = "dense"{{.*}}pattern = "2:4"
func.func @nm(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[1.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0],
    [0.0, 0.0, 5.0, 6.0, 7.0, 0.0, 8.0, 0.0]]> : tensor<2x8xf32>
  %s = sparse_tensor.convert %w : tensor<2x8xf32> to tensor<2x8xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>
  %e = tensor.empty() : tensor<8x2xf32>
  %wt = linalg.transpose ins(%s : tensor<2x8xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j floordiv 4 : dense, j mod 4 : structured[2, 4])}>>) outs(%e : tensor<8x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x8xf32>, tensor<8x2xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// 2x2 blocks (the floordiv 2 of the dimension-to-level map).
// CHECK-LABEL: func.func @bsr
// CHECK: "sparsile.matmul"({{.*}}) {{.*}}format = "dense"{{.*}}pattern = "bsr2"
func.func @bsr(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[1.0, 2.0, 0.0, 0.0],
    [3.0, 4.0, 0.0, 0.0],
    [0.0, 0.0, 7.0, 8.0],
    [0.0, 0.0, 5.0, 6.0]]> : tensor<4x4xf32>
  %s = sparse_tensor.convert %w : tensor<4x4xf32> to tensor<4x4xf32, #sparse_tensor.encoding<{map = (i, j) -> (i floordiv 2 : dense, j floordiv 2 : compressed, i mod 2 : dense, j mod 2 : dense)}>>
  %e = tensor.empty() : tensor<4x4xf32>
  %wt = linalg.transpose ins(%s : tensor<4x4xf32, #sparse_tensor.encoding<{map = (i, j) -> (i floordiv 2 : dense, j floordiv 2 : compressed, i mod 2 : dense, j mod 2 : dense)}>>) outs(%e : tensor<4x4xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x4xf32>, tensor<4x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// Channels (a compressed outer level over a dense inner one).
// CHECK-LABEL: func.func @channels
// CHECK: "sparsile.matmul"({{.*}}) {{.*}}format = "dense"{{.*}}pattern = "channels"
func.func @channels(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[1.0, 2.0, 3.0],
    [0.0, 0.0, 0.0],
    [4.0, 5.0, 6.0]]> : tensor<3x3xf32>
  %s = sparse_tensor.convert %w : tensor<3x3xf32> to tensor<3x3xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : compressed, j : dense)}>>
  %e = tensor.empty() : tensor<3x3xf32>
  %wt = linalg.transpose ins(%s : tensor<3x3xf32, #sparse_tensor.encoding<{map = (i, j) -> (i : compressed, j : dense)}>>) outs(%e : tensor<3x3xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x3xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<2x3xf32>, tensor<3x3xf32>) outs(%acc : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// A sparse conv filter whose convolution accumulates into something other than a per-channel
// bias (here: an argument) falls back to dense: the convert goes, the reason is recorded on
// the convolution (a constant may be merged or folded away by canonicalization).
// CHECK-LABEL: func.func @conv_fallback
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "conv"} dense
// CHECK-NOT: sparse_tensor.convert
// CHECK: linalg.conv_2d_nchw_fchw {dilations = {{.*}}, sparsile.sparsity = {batch_rows = 9 : i64{{.*}}fallback = "the convolution accumulates into a tensor that is not a per-channel bias", {{.*}}format = "dense"{{.*}} ins(%{{.*}}, %[[W]] :
// CHECK-NOT: sparsile.conv
func.func @conv_fallback(%x: tensor<1x2x4x4xf32>, %acc: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant {sparsile.name = "conv"} dense<[[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]], [[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]]> : tensor<2x2x2x2xf32>
  %s = sparse_tensor.convert %w : tensor<2x2x2x2xf32> to tensor<2x2x2x2xf32, #sparse_tensor.encoding<{map = (f, c, h, w) -> (f : compressed, c : dense, h : dense, w : dense)}>>
  %y = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %s : tensor<1x2x4x4xf32>, tensor<2x2x2x2xf32, #sparse_tensor.encoding<{map = (f, c, h, w) -> (f : compressed, c : dense, h : dense, w : dense)}>>) outs(%acc : tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}
