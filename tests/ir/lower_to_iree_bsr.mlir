// RUN: sparsile opt -p lower-to-iree,canonicalize,check-iree-input --split-input-file %s | filecheck %s

// Blocks at one row: the block row's 4 outputs are one vector; each block column (stored
// contiguously: blocks by columns) is multiplied by one broadcast input value.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: memref<8xf32>, %{{.*}}: memref<1x4x4xf32>, %{{.*}}: memref<1xi32>, %{{.*}}: memref<2xi32>, %{{.*}}: memref<4xf32>)
// CHECK: scf.for
// CHECK: vector.broadcast %{{.*}} : f32 to vector<4xf32>
// CHECK: vector.load %{{.*}} : memref<1x4x4xf32>, vector<4xf32>
// CHECK: vector.fma
// CHECK-NOT: vector.gather
// CHECK-LABEL: func.func @bsr_gemv
// CHECK: %[[X:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<1x8xf32> into tensor<8xf32>
// CHECK: call @sparsile_dispatch_0(%[[X]], %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<8xf32>, tensor<1x4x4xf32>, tensor<1xi32>, tensor<2xi32>) -> tensor<4xf32>
func.func @bsr_gemv(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {
  %v = arith.constant dense<1.0> : tensor<1x4x4xf32>
  %c = arith.constant dense<[1]> : tensor<1xi32>
  %o = arith.constant dense<[0, 1]> : tensor<2xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "bsr", pattern = "bsr4", params = {block = 4 : i64, layout = "columns"}, tiles = {block_rows = 16 : i64}, out_features = 4 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x8xf32>, tensor<1x4x4xf32>, tensor<1xi32>, tensor<2xi32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}

// -----

// Several rows: x goes feature-major in blocks of 16 rows (20 rows padded to 32: two blocks);
// a register tile of the block's 4 output rows x 16 activation rows takes one activation load
// per block column and one broadcast weight per FMA.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<2x8x16xf32>, %{{.*}}: memref<1x4x4xf32>, %{{.*}}: memref<1xi32>, %{{.*}}: memref<2xi32>, %{{.*}}: memref<2x4x16xf32>)
// CHECK-SAME: attributes {sparsile.workgroups = array<i64: 1, 2, 1>}
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4: vector.fma
// CHECK-LABEL: func.func @bsr_blocked
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [20, 8] [1, 1] : tensor<20x8xf32> into tensor<32x8xf32>
// CHECK: linalg.transpose {{.*}} permutation = [0, 2, 1]
// CHECK: call @sparsile_dispatch_0
// CHECK: tensor.extract_slice %{{.*}}[0, 0] [20, 4] [1, 1] : tensor<32x4xf32> to tensor<20x4xf32>
func.func @bsr_blocked(%x: tensor<20x8xf32>) -> tensor<20x4xf32> {
  %v = arith.constant dense<1.0> : tensor<1x4x4xf32>
  %c = arith.constant dense<[1]> : tensor<1xi32>
  %o = arith.constant dense<[0, 1]> : tensor<2xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "bsr", pattern = "bsr4", params = {block = 4 : i64, layout = "columns"}, tiles = {block_rows = 16 : i64, mb = 16 : i64}, out_features = 4 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<20x8xf32>, tensor<1x4x4xf32>, tensor<1xi32>, tensor<2xi32>) -> tensor<20x4xf32>
  return %y : tensor<20x4xf32>
}
