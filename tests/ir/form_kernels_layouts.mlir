// RUN: sparsile opt -p detect-sparsity,form-kernels,canonicalize --split-input-file %s | filecheck %s

// Every weight layout becomes a kernel whose storage is the weight as [out, in] and whose
// input is the activation as [rows, in]; the same 2:4 weight throughout, stored [out, in]
// (@NK) or [in, out] (@KN).

// An [in, out] weight (Hugging Face Conv1D) is stored transposed, as [out, in]: the
// kernel's storage holds the rows of the [out, in] weight (first row 0, -6, ...).
// CHECK-LABEL: func.func @in_out
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w"} dense<{{\[\[}}0.000000e+00, -6.000000e+00, -0.000000e+00, -8.000000e+00{{.*}}> : tensor<8x8xf32>
// CHECK-NOT: arith.constant {sparsile.name = "w"}
// CHECK: %[[Y:.*]] = "sparsile.matmul"(%[[X]], %[[W]]) {{.*}}in_features = 8 : i64{{.*}}out_features = 8 : i64{{.*}}pattern = "2:4"{{.*}} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
func.func @in_out(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, 0.0, 2.0, 0.0, 5.0, -0.0, -4.0, -7.0],
    [-6.0, -3.0, -0.0, 3.0, 0.0, -2.0, 0.0, 0.0],
    [-0.0, -3.0, 0.0, -8.0, 7.0, 7.0, -2.0, -0.0],
    [-8.0, -0.0, 4.0, 0.0, 0.0, -0.0, -0.0, 5.0],
    [0.0, 0.0, -0.0, -4.0, 0.0, 7.0, 0.0, 0.0],
    [7.0, 0.0, 0.0, -0.0, -0.0, -5.0, 4.0, 4.0],
    [0.0, 4.0, 3.0, -5.0, 3.0, -0.0, -7.0, 4.0],
    [-2.0, -7.0, 3.0, 0.0, 8.0, -0.0, 0.0, -0.0]]> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Maps that read B as [N, K]: the constant is the storage as it is.
// CHECK-LABEL: func.func @matmul_maps_transpose_b
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w"} dense<{{\[\[}}0.000000e+00, -6.000000e+00
// CHECK: %[[Y:.*]] = "sparsile.matmul"(%[[X]], %[[W]]) {{.*}}pattern = "2:4"
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
func.func @matmul_maps_transpose_b(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, -6.0, -0.0, -8.0, 0.0, 7.0, 0.0, -2.0],
    [0.0, -3.0, -3.0, -0.0, 0.0, 0.0, 4.0, -7.0],
    [2.0, -0.0, 0.0, 4.0, -0.0, 0.0, 3.0, 3.0],
    [0.0, 3.0, -8.0, 0.0, -4.0, -0.0, -5.0, 0.0],
    [5.0, 0.0, 7.0, 0.0, 0.0, -0.0, 3.0, 8.0],
    [-0.0, -2.0, 7.0, -0.0, 7.0, -5.0, -0.0, -0.0],
    [-4.0, 0.0, -2.0, -0.0, 0.0, 4.0, -7.0, 0.0],
    [-7.0, 0.0, -0.0, 5.0, 0.0, 4.0, 4.0, -0.0]]> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : tensor<4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// W @ x with x as [K, M]: x is transposed to [M, K] and the [M, N] result back to [N, M].
// CHECK-LABEL: func.func @weight_first
// CHECK-SAME: (%[[XT:.*]]: tensor<8x4xf32>)
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w"} dense<{{\[\[}}0.000000e+00, -6.000000e+00
// CHECK: %[[X:.*]] = linalg.transpose ins(%[[XT]] : tensor<8x4xf32>) outs({{.*}} : tensor<4x8xf32>) permutation = [1, 0]
// CHECK: %[[K:.*]] = "sparsile.matmul"(%[[X]], %[[W]]) {{.*}} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[Y:.*]] = linalg.transpose ins(%[[K]] : tensor<4x8xf32>) outs({{.*}} : tensor<8x4xf32>) permutation = [1, 0]
// CHECK: return %[[Y]]
func.func @weight_first(%xt: tensor<8x4xf32>) -> tensor<8x4xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, -6.0, -0.0, -8.0, 0.0, 7.0, 0.0, -2.0],
    [0.0, -3.0, -3.0, -0.0, 0.0, 0.0, 4.0, -7.0],
    [2.0, -0.0, 0.0, 4.0, -0.0, 0.0, 3.0, 3.0],
    [0.0, 3.0, -8.0, 0.0, -4.0, -0.0, -5.0, 0.0],
    [5.0, 0.0, 7.0, 0.0, 0.0, -0.0, 3.0, 8.0],
    [-0.0, -2.0, 7.0, -0.0, 7.0, -5.0, -0.0, -0.0],
    [-4.0, 0.0, -2.0, -0.0, 0.0, 4.0, -7.0, 0.0],
    [-7.0, 0.0, -0.0, 5.0, 0.0, 4.0, 4.0, -0.0]]> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<8x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<8x4xf32>) -> tensor<8x4xf32>
  %y = linalg.matmul ins(%w, %xt : tensor<8x8xf32>, tensor<8x4xf32>) outs(%acc : tensor<8x4xf32>) -> tensor<8x4xf32>
  return %y : tensor<8x4xf32>
}

// -----

// A batch_matmul of a broadcast [in, out] weight: the batch folds into the rows.
// CHECK-LABEL: func.func @batch_matmul_broadcast
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x8xf32>)
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w"} dense<{{\[\[}}0.000000e+00, -6.000000e+00
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x4x8xf32> into tensor<8x8xf32>
// CHECK: %[[K:.*]] = "sparsile.matmul"(%[[R]], %[[W]]) {{.*}}batch_rows = 8 : i64{{.*}} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[K]] {{\[\[}}0, 1], [2]] output_shape [2, 4, 8]
// CHECK-NOT: linalg.broadcast
// CHECK-NOT: linalg.batch_matmul
// CHECK: return %[[Y]]
func.func @batch_matmul_broadcast(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, 0.0, 2.0, 0.0, 5.0, -0.0, -4.0, -7.0],
    [-6.0, -3.0, -0.0, 3.0, 0.0, -2.0, 0.0, 0.0],
    [-0.0, -3.0, 0.0, -8.0, 7.0, 7.0, -2.0, -0.0],
    [-8.0, -0.0, 4.0, 0.0, 0.0, -0.0, -0.0, 5.0],
    [0.0, 0.0, -0.0, -4.0, 0.0, 7.0, 0.0, 0.0],
    [7.0, 0.0, 0.0, -0.0, -0.0, -5.0, 4.0, 4.0],
    [0.0, 4.0, 3.0, -5.0, 3.0, -0.0, -7.0, 4.0],
    [-2.0, -7.0, 3.0, 0.0, 8.0, -0.0, 0.0, -0.0]]> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<2x8x8xf32>
  %wb = linalg.broadcast ins(%w : tensor<8x8xf32>) outs(%e : tensor<2x8x8xf32>) dimensions = [0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %y = linalg.batch_matmul ins(%x, %wb : tensor<2x4x8xf32>, tensor<2x8x8xf32>) outs(%acc : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// A generic contraction whose result is [batch, out, rows]: collapse, kernel, expand, transpose.
// CHECK-LABEL: func.func @generic_contraction
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x8xf32>)
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w"} dense<{{\[\[}}0.000000e+00, -6.000000e+00
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[X]]
// CHECK: %[[K:.*]] = "sparsile.matmul"(%[[R]], %[[W]])
// CHECK: %[[E:.*]] = tensor.expand_shape %[[K]] {{.*}} into tensor<2x4x8xf32>
// CHECK: %[[Y:.*]] = linalg.transpose ins(%[[E]] : tensor<2x4x8xf32>) outs({{.*}} : tensor<2x8x4xf32>) permutation = [0, 2, 1]
// CHECK: return %[[Y]]
func.func @generic_contraction(%x: tensor<2x4x8xf32>) -> tensor<2x8x4xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, -6.0, -0.0, -8.0, 0.0, 7.0, 0.0, -2.0],
    [0.0, -3.0, -3.0, -0.0, 0.0, 0.0, 4.0, -7.0],
    [2.0, -0.0, 0.0, 4.0, -0.0, 0.0, 3.0, 3.0],
    [0.0, 3.0, -8.0, 0.0, -4.0, -0.0, -5.0, 0.0],
    [5.0, 0.0, 7.0, 0.0, 0.0, -0.0, 3.0, 8.0],
    [-0.0, -2.0, 7.0, -0.0, 7.0, -5.0, -0.0, -0.0],
    [-4.0, 0.0, -2.0, -0.0, 0.0, 4.0, -7.0, 0.0],
    [-7.0, 0.0, -0.0, 5.0, 0.0, 4.0, 4.0, -0.0]]> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x8x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x8x4xf32>) -> tensor<2x8x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (n, k)>, affine_map<(b, m, n, k) -> (b, n, m)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
    ins(%x, %w : tensor<2x4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<2x8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x8x4xf32>
  return %y : tensor<2x8x4xf32>
}

// -----

// The same activation for every batch: no [rows, in] input holds it, so the weight stays
// dense and the reason is recorded on the contraction.
// CHECK-LABEL: func.func @broadcast_activation
// CHECK-NOT: sparsile.matmul
// CHECK: linalg.generic {{.*}}sparsile.sparsity = {{{.*}}fallback = "the result has dimensions the activation does not (a broadcast activation)"{{.*}}format = "dense"
func.func @broadcast_activation(%x: tensor<4x8xf32>) -> tensor<2x4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, -6.0, -0.0, -8.0, 0.0, 7.0, 0.0, -2.0],
    [0.0, -3.0, -3.0, -0.0, 0.0, 0.0, 4.0, -7.0],
    [2.0, -0.0, 0.0, 4.0, -0.0, 0.0, 3.0, 3.0],
    [0.0, 3.0, -8.0, 0.0, -4.0, -0.0, -5.0, 0.0],
    [5.0, 0.0, 7.0, 0.0, 0.0, -0.0, 3.0, 8.0],
    [-0.0, -2.0, 7.0, -0.0, 7.0, -5.0, -0.0, -0.0],
    [-4.0, 0.0, -2.0, -0.0, 0.0, 4.0, -7.0, 0.0],
    [-7.0, 0.0, -0.0, 5.0, 0.0, 4.0, 4.0, -0.0]]> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (m, k)>, affine_map<(b, m, n, k) -> (n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
    ins(%x, %w : tensor<4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<2x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Accumulating into a tensor that is not zero: dense, with the reason.
// CHECK-LABEL: func.func @batch_matmul_accumulates
// CHECK-NOT: sparsile.matmul
// CHECK: linalg.batch_matmul {{.*}}fallback = "the matmul accumulates into a non-zero tensor"{{.*}}format = "dense"
func.func @batch_matmul_accumulates(%x: tensor<2x4x8xf32>, %acc: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, 0.0, 2.0, 0.0, 5.0, -0.0, -4.0, -7.0],
    [-6.0, -3.0, -0.0, 3.0, 0.0, -2.0, 0.0, 0.0],
    [-0.0, -3.0, 0.0, -8.0, 7.0, 7.0, -2.0, -0.0],
    [-8.0, -0.0, 4.0, 0.0, 0.0, -0.0, -0.0, 5.0],
    [0.0, 0.0, -0.0, -4.0, 0.0, 7.0, 0.0, 0.0],
    [7.0, 0.0, 0.0, -0.0, -0.0, -5.0, 4.0, 4.0],
    [0.0, 4.0, 3.0, -5.0, 3.0, -0.0, -7.0, 4.0],
    [-2.0, -7.0, 3.0, 0.0, 8.0, -0.0, 0.0, -0.0]]> : tensor<8x8xf32>
  %y = linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>]
    ins(%x, %w : tensor<2x4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}
