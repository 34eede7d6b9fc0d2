// RUN: sparsile opt -p share-tied-weights --split-input-file %s | filecheck %s
// RUN: sparsile opt -p 'share-tied-weights{target=gpu}' --split-input-file %s | filecheck %s --check-prefix=GPU

// A tied embedding: the same [vocab, hidden] constant is gathered (the token embedding)
// and multiplied (the LM head). The matmul becomes a contraction over (k1, k2) that reads
// the constant itself, reshaped, so IREE does not store a data-tiled copy beside it.
// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
// CHECK-DAG: #[[Y:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @tied
// CHECK-SAME: (%[[IDS:.*]]: tensor<4xi64>)
// CHECK: %[[WTE:.*]] = arith.constant {sparsile.name = "wte"} dense<{{.*}}> : tensor<16x8xf32>
// CHECK: %[[EMB:.*]] = linalg.generic {{.*}} ins(%[[IDS]] : tensor<4xi64>)
// CHECK: tensor.extract %[[WTE]]
// CHECK: %[[XS:.*]] = tensor.expand_shape %[[EMB]] {{\[\[}}0], [1, 2]] output_shape [4, 4, 2] : tensor<4x8xf32> into tensor<4x4x2xf32>
// CHECK: %[[WS:.*]] = tensor.expand_shape %[[WTE]] {{\[\[}}0], [1, 2]] output_shape [16, 4, 2] : tensor<16x8xf32> into tensor<16x4x2xf32>
// CHECK: %[[HEAD:.*]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[Y]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[XS]], %[[WS]] : tensor<4x4x2xf32>, tensor<16x4x2xf32>) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.transpose
// CHECK-NOT: linalg.matmul
// CHECK: return %[[HEAD]]
// GPU-LABEL: func.func @tied
// GPU: linalg.transpose
// GPU: linalg.matmul
func.func @tied(%ids: tensor<4xi64>) -> tensor<4x16xf32> {
  %w = arith.constant {sparsile.name = "wte"} dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1.0], [4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1.0, 2.0],
    [5.0, 6.0, 7.0, 8.0, 9.0, 1.0, 2.0, 3.0], [6.0, 7.0, 8.0, 9.0, 1.0, 2.0, 3.0, 4.0], [7.0, 8.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0],
    [8.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [1.0, 3.0, 5.0, 7.0, 9.0, 2.0, 4.0, 6.0],
    [2.0, 4.0, 6.0, 8.0, 1.0, 3.0, 5.0, 7.0], [3.0, 5.0, 7.0, 9.0, 2.0, 4.0, 6.0, 8.0], [4.0, 6.0, 8.0, 1.0, 3.0, 5.0, 7.0, 9.0],
    [5.0, 7.0, 9.0, 2.0, 4.0, 6.0, 8.0, 1.0], [6.0, 8.0, 1.0, 3.0, 5.0, 7.0, 9.0, 2.0], [7.0, 9.0, 2.0, 4.0, 6.0, 8.0, 1.0, 3.0]]> : tensor<16x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %emb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
    ins(%ids : tensor<4xi64>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%id: i64, %out: f32):
    %row = arith.index_cast %id : i64 to index
    %col = linalg.index 1 : index
    %v = tensor.extract %w[%row, %col] : tensor<16x8xf32>
    linalg.yield %v : f32
  } -> tensor<4x8xf32>
  %t0 = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%t0 : tensor<8x16xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = linalg.matmul ins(%emb, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// A weight that only a matmul reads is left to IREE's data tiling.
// CHECK-LABEL: func.func @untied
// CHECK: linalg.transpose
// CHECK: linalg.matmul
func.func @untied(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %w = arith.constant {sparsile.name = "fc"} dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %t0 = tensor.empty() : tensor<4x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x4xf32>) outs(%t0 : tensor<4x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%acc : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A head that stayed dense after schedule reads its own copy of the values: the copies are
// one weight, so the head reads the embedding's constant and the copy goes.
// CHECK-LABEL: func.func @equal_copy
// CHECK: %[[WTE:.*]] = arith.constant {sparsile.name = "wte"} dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]]> : tensor<2x4xf32>
// CHECK-NOT: arith.constant {{.*}}dense<{{\[\[}}1.000000e+00
// CHECK: tensor.extract %[[WTE]]
// CHECK: tensor.expand_shape %[[WTE]] {{\[\[}}0], [1, 2]] output_shape [2, 2, 2]
// CHECK-NOT: linalg.matmul
func.func @equal_copy(%ids: tensor<4xi64>, %x: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x2xf32>) {
  %w = arith.constant {sparsile.name = "wte"} dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %e = tensor.empty() : tensor<4x4xf32>
  %emb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
    ins(%ids : tensor<4xi64>) outs(%e : tensor<4x4xf32>) {
  ^bb0(%id: i64, %out: f32):
    %row = arith.index_cast %id : i64 to index
    %col = linalg.index 1 : index
    %v = tensor.extract %w[%row, %col] : tensor<2x4xf32>
    linalg.yield %v : f32
  } -> tensor<4x4xf32>
  %copy = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %t0 = tensor.empty() : tensor<4x2xf32>
  %wt = linalg.transpose ins(%copy : tensor<2x4xf32>) outs(%t0 : tensor<4x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x4xf32>, tensor<4x2xf32>) outs(%acc : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %emb, %y : tensor<4x4xf32>, tensor<4x2xf32>
}

// -----

// A reduction of prime length (7) cannot be split: the matmul is left as it was.
// CHECK-LABEL: func.func @prime_reduction
// CHECK: linalg.matmul
func.func @prime_reduction(%ids: tensor<1xi64>, %x: tensor<1x7xf32>) -> (tensor<1x7xf32>, tensor<1x2xf32>) {
  %w = arith.constant {sparsile.name = "wte"} dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]]> : tensor<2x7xf32>
  %e = tensor.empty() : tensor<1x7xf32>
  %emb = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
    ins(%ids : tensor<1xi64>) outs(%e : tensor<1x7xf32>) {
  ^bb0(%id: i64, %out: f32):
    %row = arith.index_cast %id : i64 to index
    %col = linalg.index 1 : index
    %v = tensor.extract %w[%row, %col] : tensor<2x7xf32>
    linalg.yield %v : f32
  } -> tensor<1x7xf32>
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%x, %w : tensor<1x7xf32>, tensor<2x7xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %emb, %y : tensor<1x7xf32>, tensor<1x2xf32>
}
