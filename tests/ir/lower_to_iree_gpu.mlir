// RUN: sparsile opt -p "lower-to-iree{target=gpu},canonicalize,check-iree-input" --split-input-file %s | filecheck %s
// RUN: sparsile opt -p "lower-to-iree{target=vulkan},canonicalize,check-iree-input" --split-input-file %s | filecheck %s

// On GPU and Vulkan targets dense storage is an ordinary matmul, and kept channels are
// gathered, multiplied as the kept sub-matrix and scattered: no dense copy of the weight.
// CHECK-LABEL: func.func @dense
// CHECK: linalg.matmul
// CHECK-NOT: sparsile.
func.func @dense(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0], [0.0, 0.0, 5.0, 6.0, 7.0, 0.0, 8.0, 0.0]]> : tensor<2x8xf32>
  %y = "sparsile.matmul"(%x, %w) {params = {}, tiles = {}, format = "dense", pattern = "2:4", out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// CHECK-LABEL: func.func @channels
// CHECK-NOT: tensor<3x4xf32>
// CHECK: linalg.matmul {{.*}}tensor<2x2xf32>
// CHECK: arith.select
func.func @channels(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, -1, 1]> : tensor<3xi32>
  %c = arith.constant dense<[1, 3]> : tensor<2xi32>
  %y = "sparsile.matmul"(%x, %v, %r, %c) {params = {}, tiles = {}, format = "channels", pattern = "channels", out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x2xf32>, tensor<3xi32>, tensor<2xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// ELL rows: the contraction reads the stored slots (values, 16-bit columns) as they are and
// gathers x's columns inside the body; 16-bit columns are widened unsigned. Bias and ReLU follow.
// CHECK-LABEL: func.func @ell
// CHECK-DAG: %[[V:.*]] = arith.constant {{.*}}dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG: %[[C:.*]] = arith.constant {{.*}}dense<{{\[}}[0, 3], [1, 0]]> : tensor<2x2xi16>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[V]], %[[C]] : tensor<2x2xf32>, tensor<2x2xi16>) outs(%{{.*}} : tensor<3x2xf32>)
// CHECK: arith.extui %{{.*}} : i16 to i32
// CHECK: arith.index_cast
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<3x4xf32>
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: arith.maximumf
// CHECK-NOT: tensor<2x4xf32>
func.func @ell(%x: tensor<3x4xf32>, %b: tensor<2xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 0.0]]> : tensor<2x2xf32>
  %c = arith.constant dense<[[0, 3], [1, 0]]> : tensor<2x2xi16>
  %y = "sparsile.matmul"(%x, %v, %c, %b) {format = "ell", pattern = "csr", params = {width = 2 : i64, col_bits = 16 : i64}, tiles = {}, out_features = 2 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1, 0>} : (tensor<3x4xf32>, tensor<2x2xf32>, tensor<2x2xi16>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// One row: the same slots as a GEMV on x collapsed to [K] (no row loop), expanded back to [1, N].
// CHECK-LABEL: func.func @ell_one_row
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]
// CHECK: tensor.extract %{{.*}}[%{{.*}}] : tensor<4xf32>
// CHECK: tensor.expand_shape {{.*}} : tensor<2xf32> into tensor<1x2xf32>
func.func @ell_one_row(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 0.0]]> : tensor<2x2xf32>
  %c = arith.constant dense<[[0, 3], [1, 0]]> : tensor<2x2xi32>
  %y = "sparsile.matmul"(%x, %v, %c) {format = "ell", pattern = "csr", params = {width = 2 : i64, col_bits = 32 : i64}, tiles = {}, out_features = 2 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x2xf32>, tensor<2x2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Blocked ELL at several rows: each block row's activation columns are copied out of x once
// (a pure gather, [NB, M, S]), multiplied by the block row's dense blocks in a batch matmul over
// block rows (values read transposed through the maps), then laid back out as [M, NB*B].
// CHECK-DAG: #[[$A:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[$Y:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @bell
// CHECK-DAG: %[[V:.*]] = arith.constant {{.*}}dense<{{.*}}> : tensor<2x2x2xf32>
// CHECK-DAG: %[[C:.*]] = arith.constant {{.*}}dense<{{\[}}[2, 3], [0, 1]]> : tensor<2x2xi16>
// CHECK: %[[XG:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[C]] : tensor<2x2xi16>) outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK-NOT: arith.mulf
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<3x4xf32>
// CHECK-NEXT: linalg.yield
// CHECK: %[[Y3:.*]] = linalg.batch_matmul indexing_maps = [#[[$A]], #[[$W]], #[[$Y]]] ins(%[[XG]], %[[V]] : tensor<2x3x2xf32>, tensor<2x2x2xf32>) outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK: linalg.transpose ins(%[[Y3]] : tensor<2x3x2xf32>) outs(%{{.*}} : tensor<3x2x2xf32>) permutation = [1, 0, 2]
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<3x2x2xf32> into tensor<3x4xf32>
func.func @bell(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %v = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]> : tensor<2x2x2xf32>
  %c = arith.constant dense<[[2, 3], [0, 1]]> : tensor<2x2xi16>
  %y = "sparsile.matmul"(%x, %v, %c) {format = "bell", pattern = "bsr2", params = {block = 2 : i64, width = 1 : i64, col_bits = 16 : i64}, tiles = {}, out_features = 4 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<3x4xf32>, tensor<2x2x2xf32>, tensor<2x2xi16>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Blocked ELL at one row: a GEMV over the slots of each block row (no batch matmul, which would
// pad the single row to a whole matrix tile); each gathered x column serves the block's B rows.
// CHECK-LABEL: func.func @bell_one_row
// CHECK-NOT: linalg.batch_matmul
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x2x2xf32>, tensor<2x2xi32>) outs(%{{.*}} : tensor<2x2xf32>)
// CHECK: tensor.extract %{{.*}}[%{{.*}}] : tensor<4xf32>
// CHECK: tensor.expand_shape {{.*}} : tensor<4xf32> into tensor<1x4xf32>
func.func @bell_one_row(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %v = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]> : tensor<2x2x2xf32>
  %c = arith.constant dense<[[2, 3], [0, 1]]> : tensor<2x2xi32>
  %y = "sparsile.matmul"(%x, %v, %c) {format = "bell", pattern = "bsr2", params = {block = 2 : i64, width = 1 : i64, col_bits = 32 : i64}, tiles = {}, out_features = 4 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x2x2xf32>, tensor<2x2xi32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}

// -----

// N:M slots: 2:4 values with the 8-bit place of each inside its group of 4. The gather reads
// column (slot / 2) * 4 + place, the place widened unsigned; bias and ReLU follow.
// CHECK-LABEL: func.func @nmell
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[P:.*]] = arith.constant {{.*}}dense<{{\[}}[0, 3, 1, 2], [0, 1, 2, 3]]> : tensor<2x4xi8>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[P]] : tensor<2x4xf32>, tensor<2x4xi8>) outs(%{{.*}} : tensor<3x2xf32>)
// CHECK: ^bb0(%{{.*}}: f32, %[[PLACE:.*]]: i8, %{{.*}}: f32):
// CHECK-DAG: %[[WIDE:.*]] = arith.extui %[[PLACE]] : i8 to i32
// CHECK-DAG: %[[SLOT:.*]] = linalg.index 2 : index
// CHECK-DAG: %[[GROUP:.*]] = arith.divui %[[SLOT]], %[[C2]] : index
// CHECK-DAG: %[[FIRST:.*]] = arith.muli %[[GROUP]], %[[C4]] : index
// CHECK: %[[COL:.*]] = arith.addi %[[FIRST]], %{{.*}} : index
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %[[COL]]] : tensor<3x8xf32>
// CHECK: linalg.generic
// CHECK: arith.maximumf
// CHECK-NOT: tensor<2x8xf32>
func.func @nmell(%x: tensor<3x8xf32>, %b: tensor<2xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 0.0], [4.0, 5.0, 6.0, 7.0]]> : tensor<2x4xf32>
  %p = arith.constant dense<[[0, 3, 1, 2], [0, 1, 2, 3]]> : tensor<2x4xi8>
  %y = "sparsile.matmul"(%x, %v, %p, %b) {format = "nmell", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1, 0>} : (tensor<3x8xf32>, tensor<2x4xf32>, tensor<2x4xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// N:M slots at one row: the same column arithmetic in a GEMV on x collapsed to [K] (slot = dim 1).
// CHECK-LABEL: func.func @nmell_one_row
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x2xf32>, tensor<2x2xi8>) outs(%{{.*}} : tensor<2xf32>)
// CHECK: linalg.index 1 : index
// CHECK: arith.divui
// CHECK: tensor.extract %{{.*}}[%{{.*}}] : tensor<8xf32>
func.func @nmell_one_row(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %p = arith.constant dense<[[2, 5], [0, 7]]> : tensor<2x2xi8>
  %y = "sparsile.matmul"(%x, %v, %p) {format = "nmell", pattern = "2:8", params = {n = 2 : i64, m = 8 : i64}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x8xf32>, tensor<2x2xf32>, tensor<2x2xi8>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
