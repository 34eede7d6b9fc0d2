// RUN: sparsile opt -p detect-sparsity --split-input-file %s | filecheck %s

// The reduction dimension of a weight comes from its consumer's indexing maps, whatever
// the layout: every case holds the same 2:4 weight (two nonzeros in every four along its
// input features, not along its outputs), stored [out, in] (@NK) or [in, out] (@KN).

// An [in, out] weight (Hugging Face Conv1D: addmm with the weight as it is): dimension 0
// is summed over, so the 2:4 groups run down its columns.
// CHECK: #[[NM_KN:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d1 : dense, d0 floordiv 4 : dense, d0 mod 4 : structured[2, 4]) }>
// CHECK-LABEL: func.func @in_out
// CHECK: %[[W:.*]] = arith.constant {sparsile.name = "w", sparsile.sparsity = {batch_rows = 4 : i64, {{.*}}detected = "2:4"{{.*}}pattern = "2:4", reduction_dim = 0 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]] : tensor<8x8xf32> to tensor<8x8xf32, #[[NM_KN]]>
// CHECK: linalg.matmul ins(%{{.*}}, %[[S]] : tensor<4x8xf32>, tensor<8x8xf32, #[[NM_KN]]>)
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

// linalg.matmul with indexing maps that read B as [N, K] (what matmul_transpose_b was):
// dimension 1 is summed over. Read as [K, N] it would look unstructured (csr).
// CHECK: #[[NM_NK:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 floordiv 4 : dense, d1 mod 4 : structured[2, 4]) }>
// CHECK-LABEL: func.func @matmul_maps_transpose_b
// CHECK: %[[W:.*]] = arith.constant {{.*}}pattern = "2:4", reduction_dim = 1 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]] : tensor<8x8xf32> to tensor<8x8xf32, #[[NM_NK]]>
// CHECK: linalg.matmul indexing_maps = {{.*}} ins(%{{.*}}, %[[S]] :
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

// Maps that transpose the activation too ([K, M] in): the weight is still read by its maps.
// CHECK-LABEL: func.func @matmul_maps_transpose_a
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 4 : i64{{.*}}pattern = "2:4", reduction_dim = 0 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: linalg.matmul indexing_maps = {{.*}} ins(%{{.*}}, %[[S]] :
func.func @matmul_maps_transpose_a(%xt: tensor<8x4xf32>) -> tensor<4x8xf32> {
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
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%xt, %w : tensor<8x4xf32>, tensor<8x8xf32>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The weight as the first operand (W @ x, x as [K, M]): rows are x's columns.
// CHECK-LABEL: func.func @weight_first
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 4 : i64{{.*}}pattern = "2:4", reduction_dim = 1 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: linalg.matmul ins(%[[S]], %{{.*}} :
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

// A batch_matmul of a weight broadcast over the batch (linalg.broadcast): the rows are batch x M.
// CHECK-LABEL: func.func @batch_matmul_broadcast
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 8 : i64{{.*}}pattern = "2:4", reduction_dim = 0 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: %[[B:.*]] = linalg.broadcast ins(%[[S]] :
// CHECK: linalg.batch_matmul ins(%{{.*}}, %[[B]] :
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

// The same broadcast as torch-mlir writes torch.bmm(x, w.expand(...)): a copying generic.
// CHECK-LABEL: func.func @batch_matmul_copy_generic
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 8 : i64{{.*}}pattern = "2:4", reduction_dim = 0 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: %[[B:.*]] = linalg.generic {{.*}} ins(%[[S]] :
// CHECK: linalg.batch_matmul ins(%{{.*}}, %[[B]] :
func.func @batch_matmul_copy_generic(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, 0.0, 2.0, 0.0, 5.0, -0.0, -4.0, -7.0],
    [-6.0, -3.0, -0.0, 3.0, 0.0, -2.0, 0.0, 0.0],
    [-0.0, -3.0, 0.0, -8.0, 7.0, 7.0, -2.0, -0.0],
    [-8.0, -0.0, 4.0, 0.0, 0.0, -0.0, -0.0, 5.0],
    [0.0, 0.0, -0.0, -4.0, 0.0, 7.0, 0.0, 0.0],
    [7.0, 0.0, 0.0, -0.0, -0.0, -5.0, 4.0, 4.0],
    [0.0, 4.0, 3.0, -5.0, 3.0, -0.0, -7.0, 4.0],
    [-2.0, -7.0, 3.0, 0.0, 8.0, -0.0, 0.0, -0.0]]> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<2x8x8xf32>
  %wb = linalg.generic {indexing_maps = [affine_map<(b, k, n) -> (k, n)>, affine_map<(b, k, n) -> (b, k, n)>], iterator_types = ["parallel", "parallel", "parallel"]}
    ins(%w : tensor<8x8xf32>) outs(%e : tensor<2x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %y = linalg.batch_matmul ins(%x, %wb : tensor<2x4x8xf32>, tensor<2x8x8xf32>) outs(%acc : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// batch_matmul with maps that broadcast B itself.
// CHECK-LABEL: func.func @batch_matmul_maps
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 8 : i64{{.*}}pattern = "2:4", reduction_dim = 0 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: linalg.batch_matmul indexing_maps = {{.*}} ins(%{{.*}}, %[[S]] :
func.func @batch_matmul_maps(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, 0.0, 2.0, 0.0, 5.0, -0.0, -4.0, -7.0],
    [-6.0, -3.0, -0.0, 3.0, 0.0, -2.0, 0.0, 0.0],
    [-0.0, -3.0, 0.0, -8.0, 7.0, 7.0, -2.0, -0.0],
    [-8.0, -0.0, 4.0, 0.0, 0.0, -0.0, -0.0, 5.0],
    [0.0, 0.0, -0.0, -4.0, 0.0, 7.0, 0.0, 0.0],
    [7.0, 0.0, 0.0, -0.0, -0.0, -5.0, 4.0, 4.0],
    [0.0, 4.0, 3.0, -5.0, 3.0, -0.0, -7.0, 4.0],
    [-2.0, -7.0, 3.0, 0.0, 8.0, -0.0, 0.0, -0.0]]> : tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<2x4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  %y = linalg.batch_matmul indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (k, n)>, affine_map<(b, m, n, k) -> (b, m, n)>]
    ins(%x, %w : tensor<2x4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// torch.einsum("bmk,nk->bmn") as torch-mlir lowers it: unit-dimension reshapes and a
// transpose of the [out, in] weight before a one-batch batch_matmul.
// CHECK-LABEL: func.func @einsum_reshapes
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 8 : i64{{.*}}pattern = "2:4", reduction_dim = 1 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: tensor.expand_shape %[[S]]
func.func @einsum_reshapes(%x: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, -6.0, -0.0, -8.0, 0.0, 7.0, 0.0, -2.0],
    [0.0, -3.0, -3.0, -0.0, 0.0, 0.0, 4.0, -7.0],
    [2.0, -0.0, 0.0, 4.0, -0.0, 0.0, 3.0, 3.0],
    [0.0, 3.0, -8.0, 0.0, -4.0, -0.0, -5.0, 0.0],
    [5.0, 0.0, 7.0, 0.0, 0.0, -0.0, 3.0, 8.0],
    [-0.0, -2.0, 7.0, -0.0, 7.0, -5.0, -0.0, -0.0],
    [-4.0, 0.0, -2.0, -0.0, 0.0, 4.0, -7.0, 0.0],
    [-7.0, 0.0, -0.0, 5.0, 0.0, 4.0, 4.0, -0.0]]> : tensor<8x8xf32>
  %e4 = tensor.expand_shape %w [[0], [1, 2, 3]] output_shape [8, 8, 1, 1] : tensor<8x8xf32> into tensor<8x8x1x1xf32>
  %t0 = tensor.empty() : tensor<8x8x1x1xf32>
  %t = linalg.transpose ins(%e4 : tensor<8x8x1x1xf32>) outs(%t0 : tensor<8x8x1x1xf32>) permutation = [1, 0, 2, 3]
  %c = tensor.collapse_shape %t [[0], [1, 2, 3]] : tensor<8x8x1x1xf32> into tensor<8x8xf32>
  %b = tensor.expand_shape %c [[0, 1], [2]] output_shape [1, 8, 8] : tensor<8x8xf32> into tensor<1x8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<1x8x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  %y = linalg.batch_matmul ins(%x, %b : tensor<1x8x8xf32>, tensor<1x8x8xf32>) outs(%acc : tensor<1x8x8xf32>) -> tensor<1x8x8xf32>
  return %y : tensor<1x8x8xf32>
}

// -----

// A linalg.generic contraction reading the [out, in] weight directly, broadcast over the batch.
// CHECK-LABEL: func.func @generic_contraction
// CHECK: %[[W:.*]] = arith.constant {{.*}}batch_rows = 8 : i64{{.*}}pattern = "2:4", reduction_dim = 1 : i64
// CHECK: %[[S:.*]] = sparse_tensor.convert %[[W]]
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[S]] :
func.func @generic_contraction(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
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
  %y = linalg.generic {indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (n, k)>, affine_map<(b, m, n, k) -> (b, m, n)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
    ins(%x, %w : tensor<2x4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<2x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Not weights: a generic that is not a multiply-accumulate, and a contraction that sums
// over both axes of the constant. Nothing is recorded or converted.
// CHECK-LABEL: func.func @not_weights
// CHECK-NOT: sparsile.sparsity
// CHECK-NOT: sparse_tensor.convert
// CHECK: return
func.func @not_weights(%x: tensor<8x8xf32>, %v: tensor<4x8xf32>) -> (tensor<8x8xf32>, tensor<4xf32>) {
  %w = arith.constant {sparsile.name = "w"} dense<[[0.0, -6.0, -0.0, -8.0, 0.0, 7.0, 0.0, -2.0],
    [0.0, -3.0, -3.0, -0.0, 0.0, 0.0, 4.0, -7.0],
    [2.0, -0.0, 0.0, 4.0, -0.0, 0.0, 3.0, 3.0],
    [0.0, 3.0, -8.0, 0.0, -4.0, -0.0, -5.0, 0.0],
    [5.0, 0.0, 7.0, 0.0, 0.0, -0.0, 3.0, 8.0],
    [-0.0, -2.0, 7.0, -0.0, 7.0, -5.0, -0.0, -0.0],
    [-4.0, 0.0, -2.0, -0.0, 0.0, 4.0, -7.0, 0.0],
    [-7.0, 0.0, -0.0, 5.0, 0.0, 4.0, 4.0, -0.0]]> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %d = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
    ins(%x, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %s = arith.subf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8x8xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4xf32>) -> tensor<4xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m)>],
                       iterator_types = ["parallel", "reduction", "reduction"]}
    ins(%v, %w : tensor<4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %d, %t : tensor<8x8xf32>, tensor<4xf32>
}
