// RUN: sparsile opt -p "lower-to-iree{target=gpu},canonicalize,check-iree-input" --split-input-file %s | filecheck %s
// RUN: sparsile opt -p "lower-to-iree{target=vulkan},canonicalize,check-iree-input" --split-input-file %s | filecheck %s

// GPU storage in every precision: the gathering contractions read the values as they are stored
// and accumulate in f32. float16 ELL values are widened in the body, next to the gather.
// CHECK-LABEL: func.func @ell_f16
// CHECK-DAG: %[[V:.*]] = arith.constant {{.*}}dense<{{.*}}> : tensor<2x2xf16>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[V]], %{{.*}} : tensor<2x2xf16>, tensor<2x2xi16>) outs(%{{.*}} : tensor<3x2xf32>)
// CHECK: ^bb0(%[[VALUE:.*]]: f16, %{{.*}}: i16, %[[ACC:.*]]: f32):
// CHECK: %[[WIDE:.*]] = arith.extf %[[VALUE]] : f16 to f32
// CHECK: %[[X:.*]] = tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<3x4xf32>
// CHECK: %[[PRODUCT:.*]] = arith.mulf %[[WIDE]], %[[X]] : f32
// CHECK: arith.addf %[[ACC]], %[[PRODUCT]] : f32
// CHECK-NOT: tensor<2x4x
func.func @ell_f16(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 0.0]]> : tensor<2x2xf16>
  %c = arith.constant dense<[[0, 3], [1, 0]]> : tensor<2x2xi16>
  %y = "sparsile.matmul"(%x, %v, %c) {format = "ell", pattern = "csr", params = {width = 2 : i64, col_bits = 16 : i64}, tiles = {}, out_features = 2 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<3x4xf32>, tensor<2x2xf16>, tensor<2x2xi16>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// int8 values are converted as signed in the contraction; their row scales are the epilogue's,
// applied before the bias.
// CHECK-LABEL: func.func @ell_int8
// CHECK-DAG: %[[S:.*]] = arith.constant {{.*}}dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x2xi8>, tensor<2x2xi16>) outs(%{{.*}} : tensor<3x2xf32>)
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %[[S]], %{{.*}} : tensor<3x2xf32>, tensor<2xf32>, tensor<2xf32>)
// CHECK: ^bb0(%[[Y:.*]]: f32, %[[SCALE:.*]]: f32, %[[BIAS:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[SCALED:.*]] = arith.mulf %[[Y]], %[[SCALE]] : f32
// CHECK: arith.addf %[[SCALED]], %[[BIAS]] : f32
func.func @ell_int8(%x: tensor<3x4xf32>, %b: tensor<2xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[127, -64], [-127, 0]]> : tensor<2x2xi8>
  %c = arith.constant dense<[[0, 3], [1, 0]]> : tensor<2x2xi16>
  %s = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %y = "sparsile.matmul"(%x, %v, %c, %s, %b) {format = "ell", pattern = "csr", params = {width = 2 : i64, col_bits = 16 : i64, quant = "int8"}, tiles = {}, out_features = 2 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 0>} : (tensor<3x4xf32>, tensor<2x2xi8>, tensor<2x2xi16>, tensor<2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// int4 values, two slots per byte: the slot is a byte loop and a nibble loop (both reductions), the
// columns are read per byte and nibble, the nibble is shifted up and sign-extended down, and the
// scale of the value's group of 128 columns (column / 128) is looked up in its row.
// CHECK-DAG: #[[$BYTES:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2)>
// CHECK-DAG: #[[$SLOTS:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
// CHECK-LABEL: func.func @ell_int4
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK-DAG: %[[FOUR:.*]] = arith.constant 4 : i8
// CHECK-DAG: %[[V:.*]] = arith.constant {{.*}}dense<{{\[}}[-73, 18], [7, 0]]> : tensor<2x2xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant {{.*}}dense<{{.*}}> : tensor<2x2xf32>
// CHECK-DAG: %[[C:.*]] = arith.constant {{.*}}dense<{{.*}}> : tensor<2x2x2xi16>
// CHECK: linalg.generic {indexing_maps = [#[[$BYTES]], #[[$SLOTS]], #{{.*}}], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[V]], %[[C]] : tensor<2x2xi8>, tensor<2x2x2xi16>)
// CHECK: ^bb0(%[[BYTE:.*]]: i8, %[[COL:.*]]: i16, %{{.*}}: f32):
// CHECK: %[[COLUMN:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: %[[NIBBLE:.*]] = linalg.index 3 : index
// CHECK: %[[HIGH:.*]] = arith.index_cast %[[NIBBLE]] : index to i8
// CHECK: %[[UP:.*]] = arith.subi %[[FOUR]], %{{.*}} : i8
// CHECK: %[[SHIFTED:.*]] = arith.shli %[[BYTE]], %[[UP]] : i8
// CHECK: %[[Q:.*]] = arith.shrsi %[[SHIFTED]], %[[FOUR]] : i8
// CHECK: %[[QF:.*]] = arith.sitofp %[[Q]] : i8 to f32
// CHECK: %[[GROUP:.*]] = arith.divui %[[COLUMN]], %[[C128]] : index
// CHECK: %[[ROW:.*]] = linalg.index 1 : index
// CHECK: %[[SCALE:.*]] = tensor.extract %[[S]][%[[ROW]], %[[GROUP]]] : tensor<2x2xf32>
// CHECK: %[[W:.*]] = arith.mulf %[[QF]], %[[SCALE]] : f32
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %[[COLUMN]]] : tensor<3x256xf32>
func.func @ell_int4(%x: tensor<3x256xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[-73, 18], [7, 0]]> : tensor<2x2xi8>
  %c = arith.constant dense<[[0, 3, 130, 200], [1, 0, 0, 0]]> : tensor<2x4xi16>
  %s = arith.constant dense<[[0.5, 1.5], [0.25, 0.0]]> : tensor<2x2xf32>
  %y = "sparsile.matmul"(%x, %v, %c, %s) {format = "ell", pattern = "csr", params = {width = 4 : i64, col_bits = 16 : i64, quant = "int4-g128"}, tiles = {}, out_features = 2 : i64, in_features = 256 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<3x256xf32>, tensor<2x2xi8>, tensor<2x4xi16>, tensor<2x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Vulkan storage: float16 values as their bit patterns, two per 32-bit word (slot 2w + h in bits
// 16h up); the word is shifted, masked and widened to f32 in integer operations (exponent rebiased
// by 112, subnormals through one exact multiply by 2^-24, the sign or'ed back).
// CHECK-LABEL: func.func @ell_f16_words
// CHECK-DAG: %[[V:.*]] = arith.constant {{.*}}dense<{{\[}}[1073757184, 0], [15360, 0]]> : tensor<2x2xi32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction"]{{.*}} ins(%[[V]], %{{.*}} : tensor<2x2xi32>, tensor<2x2x2xi32>) outs(%{{.*}} : tensor<2xf32>)
// CHECK: ^bb0(%[[WORD:.*]]: i32, %{{.*}}: i32, %{{.*}}: f32):
// CHECK: %[[LANE:.*]] = linalg.index 2 : index
// CHECK: %[[LANE32:.*]] = arith.index_cast %[[LANE]] : index to i32
// CHECK: %[[SHIFT:.*]] = arith.muli %[[LANE32]], %{{.*}} : i32
// CHECK: %[[DOWN:.*]] = arith.shrui %[[WORD]], %[[SHIFT]] : i32
// CHECK: arith.andi %[[DOWN]], %{{.*}} : i32
// CHECK: arith.addi %{{.*}}, %{{.*}} : i32
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.select
// CHECK: arith.select
// CHECK: %[[BITS:.*]] = arith.ori %{{.*}}, %{{.*}} : i32
// CHECK: %[[VALUE:.*]] = arith.bitcast %[[BITS]] : i32 to f32
// CHECK: %[[X:.*]] = tensor.extract %{{.*}}[%{{.*}}] : tensor<4xf32>
// CHECK: arith.mulf %[[VALUE]], %[[X]] : f32
// CHECK-NOT: f16
func.func @ell_f16_words(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1073757184, 0], [15360, 0]]> : tensor<2x2xi32>
  %c = arith.constant dense<[[0, 3, 0, 0], [1, 0, 0, 0]]> : tensor<2x4xi32>
  %y = "sparsile.matmul"(%x, %v, %c) {format = "ell", pattern = "csr", params = {width = 4 : i64, col_bits = 32 : i64, word_values = "f16"}, tiles = {}, out_features = 2 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x2xi32>, tensor<2x4xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// N:M slots with int8 values four per 32-bit word: the slot is word * 4 + lane (for the column of
// its place), the lane's byte is shifted to the top and sign-extended down.
// CHECK-LABEL: func.func @nmell_int8_words
// CHECK-DAG: %[[C24:.*]] = arith.constant 24 : i32
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<2x2xi32>, tensor<2x2x4xi8>)
// CHECK: ^bb0(%[[WORD:.*]]: i32, %{{.*}}: i8, %{{.*}}: f32):
// CHECK-DAG: %[[W:.*]] = linalg.index 2 : index
// CHECK-DAG: %[[L:.*]] = linalg.index 3 : index
// CHECK-DAG: %[[W4:.*]] = arith.muli %[[W]], %{{.*}} : index
// CHECK: %[[SLOT:.*]] = arith.addi %[[W4]], %[[L]] : index
// CHECK: arith.divui %[[SLOT]], %{{.*}} : index
// CHECK: %[[UP:.*]] = arith.shli %[[WORD]], %{{.*}} : i32
// CHECK: %[[Q:.*]] = arith.shrsi %[[UP]], %[[C24]] : i32
// CHECK: arith.sitofp %[[Q]] : i32 to f32
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<3x16xf32>
// CHECK: linalg.generic
// CHECK: arith.mulf
func.func @nmell_int8_words(%x: tensor<3x16xf32>) -> tensor<3x2xf32> {
  %v = arith.constant dense<[[16909060, 1], [-1, 2]]> : tensor<2x2xi32>
  %p = arith.constant dense<[[0, 3, 1, 2, 0, 1, 2, 3], [0, 1, 2, 3, 1, 2, 0, 3]]> : tensor<2x8xi8>
  %s = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %y = "sparsile.matmul"(%x, %v, %p, %s) {format = "nmell", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64, quant = "int8", word_values = "i8"}, tiles = {}, out_features = 2 : i64, in_features = 16 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<3x16xf32>, tensor<2x2xi32>, tensor<2x8xi8>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Blocked ELL with float16 blocks: the batch matmul reads them as they are (widened by the op).
// CHECK-LABEL: func.func @bell_f16
// CHECK: %[[XG:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK: linalg.batch_matmul {{.*}} ins(%[[XG]], %{{.*}} : tensor<2x3x2xf32>, tensor<2x2x2xf16>) outs(%{{.*}} : tensor<2x3x2xf32>)
func.func @bell_f16(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %v = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]> : tensor<2x2x2xf16>
  %c = arith.constant dense<[[2, 3], [0, 1]]> : tensor<2x2xi16>
  %y = "sparsile.matmul"(%x, %v, %c) {format = "bell", pattern = "bsr2", params = {block = 2 : i64, width = 1 : i64, col_bits = 16 : i64}, tiles = {}, out_features = 4 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<3x4xf32>, tensor<2x2x2xf16>, tensor<2x2xi16>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// Blocked ELL with int4 blocks: no dequantized copy of the blocks; the gathered columns meet the
// packed bytes in one contraction with the batch matmul's loops (nb, m, r) and the slot split into
// byte and nibble, each value scaled by its row's group.
// CHECK-DAG: #[[$XG:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-DAG: #[[$W:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d3)>
// CHECK-DAG: #[[$Y:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @bell_int4
// CHECK-NOT: linalg.batch_matmul
// CHECK: %[[XG:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK: %[[XG4:.*]] = tensor.expand_shape %[[XG]] {{\[}}[0], [1], [2, 3]] output_shape [2, 3, 1, 2] : tensor<2x3x2xf32> into tensor<2x3x1x2xf32>
// CHECK: linalg.generic {indexing_maps = [#[[$XG]], #[[$W]], #{{.*}}, #[[$Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[XG4]], %{{.*}}, %{{.*}} : tensor<2x3x1x2xf32>, tensor<2x2x1xi8>, tensor<2x1x2xi16>) outs(%{{.*}} : tensor<2x3x2xf32>)
// CHECK: arith.shrsi
// CHECK: arith.divui
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<4x1xf32>
// CHECK: linalg.transpose
// CHECK-NOT: tensor<2x2x2xf32>
func.func @bell_int4(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %v = arith.constant dense<[[[33], [67]], [[-35], [-1]]]> : tensor<2x2x1xi8>
  %c = arith.constant dense<[[2, 3], [0, 1]]> : tensor<2x2xi16>
  %s = arith.constant dense<[[0.5], [0.25], [1.0], [2.0]]> : tensor<4x1xf32>
  %y = "sparsile.matmul"(%x, %v, %c, %s) {format = "bell", pattern = "bsr2", params = {block = 2 : i64, width = 1 : i64, col_bits = 16 : i64, quant = "int4-g128"}, tiles = {}, out_features = 4 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<3x4xf32>, tensor<2x2x1xi8>, tensor<2x2xi16>, tensor<4x1xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
