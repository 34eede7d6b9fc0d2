// RUN: sparsile opt -p lower-to-iree,canonicalize,check-iree-input --split-input-file %s | filecheck %s

// Dense int4 rows at one row, 144 padded columns: one whole scale group of 128 and one tile
// past it. The group's eight tiles are decoded and multiplied unscaled into four
// accumulators, then its scale is loaded once and applied by one multiply-add per
// accumulator; the tile past the last whole group is scaled on its own.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: memref<2x72xi8>, %{{.*}}: memref<2x2xf32>
// CHECK-COUNT-8: arith.sitofp
// CHECK-NOT: arith.mulf
// CHECK: %[[S0:.*]] = memref.load %{{.*}}[%{{.*}}, %c0] : memref<2x2xf32>
// CHECK: %[[B0:.*]] = vector.broadcast %[[S0]]
// CHECK-COUNT-4: vector.fma %{{.*}}, %[[B0]], %cst
// CHECK: arith.sitofp
// CHECK: %[[S1:.*]] = memref.load %{{.*}}[%{{.*}}, %c1] : memref<2x2xf32>
// CHECK: %[[B1:.*]] = vector.broadcast %[[S1]]
// CHECK: arith.mulf %{{.*}}, %[[B1]] : vector<16xf32>
// CHECK: vector.reduction <add>
func.func @dense_int4(%x: tensor<1x130xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<17> : tensor<2x72xi8>
  %s = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %y = "sparsile.matmul"(%x, %v, %s) {format = "dense", pattern = "dense", params = {kp = 144 : i64, quant = "int4-g128"}, tiles = {rows = 16 : i64}, out_features = 2 : i64, in_features = 130 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x130xf32>, tensor<2x72xi8>, tensor<2x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Two whole groups: a loop over the groups, the scale of group %g loaded once per iteration
// after its eight tiles; no tile is scaled on its own.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK: scf.for %[[G:.*]] = %c0 to %c2 step %c1
// CHECK-COUNT-8: arith.sitofp
// CHECK: memref.load %{{.*}}[%{{.*}}, %[[G]]] : memref<3x2xf32>
// CHECK-COUNT-4: vector.fma
// CHECK: scf.yield
// CHECK-NOT: arith.mulf
// CHECK: vector.reduction <add>
func.func @dense_int4_two_groups(%x: tensor<3x256xf32>) -> tensor<3x3xf32> {
  %v = arith.constant dense<-25> : tensor<3x128xi8>
  %s = arith.constant dense<0.5> : tensor<3x2xf32>
  %y = "sparsile.matmul"(%x, %v, %s) {format = "dense", pattern = "dense", params = {kp = 256 : i64, quant = "int4-g128"}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 256 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<3x256xf32>, tensor<3x128xi8>, tensor<3x2xf32>) -> tensor<3x3xf32>
  return %y : tensor<3x3xf32>
}
