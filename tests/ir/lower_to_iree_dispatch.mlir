// RUN: sparsile opt -p lower-to-iree,canonicalize,check-iree-input --split-input-file %s | filecheck %s
// RUN: not sparsile opt -p 'lower-to-iree{target=gpu}' %s 2>&1 | filecheck %s --check-prefix=GPU

// The lowering reads the storage schedule wrote: the same constants reach the dispatch.
// GPU: error: 'sparsile.matmul' of layer 'fc': storage format 'csr' has no lowering for target 'gpu' (it lowers on: cpu, native); run 'schedule' for this target to choose a storage it runs

// Batched CSR: x [2, 4] goes feature-major (xt [1, 4, 2]) into a hand-written K-blocked
// kernel whose operands are the kernel op's storage (values, 16-bit columns, offsets) as
// they are; y comes back as [2, 3] and bias and ReLU run there, in the model's layout.
// CHECK-LABEL: func.func private @sparsile_dispatch_0
// CHECK-SAME: attributes {sparsile.kernel = @sparsile_kernel_0}
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<1x4x2xf32>, %{{.*}}: memref<3xf32>, %{{.*}}: memref<3xi16>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<1x3x2xf32>)
// CHECK-SAME: attributes {sparsile.workgroups = array<i64: 1, 1, 1>}
// CHECK: scf.for
// CHECK: vector.fma
// CHECK-NOT: vector.gather
// CHECK-LABEL: func.func @csr_batched
// CHECK-DAG: %[[VALS:.*]] = arith.constant {{.*}}dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[COLS:.*]] = arith.constant {{.*}}dense<[0, 3, 1]> : tensor<3xi16>
// CHECK-DAG: %[[OFFS:.*]] = arith.constant {{.*}}dense<[0, 2, 2, 3]> : tensor<4xi32>
// CHECK: %[[XT:.*]] = linalg.transpose ins(%{{.*}} : tensor<1x2x4xf32>) outs(%{{.*}} : tensor<1x4x2xf32>) permutation = [0, 2, 1]
// CHECK: %[[YT:.*]] = call @sparsile_dispatch_0(%[[XT]], %[[VALS]], %[[COLS]], %[[OFFS]])
// CHECK: %[[Y3:.*]] = linalg.transpose ins(%[[YT]] : tensor<1x3x2xf32>) {{.*}} permutation = [0, 2, 1]
// CHECK: %[[Y:.*]] = tensor.collapse_shape %[[Y3]]
// CHECK: linalg.generic {{.*}} ins(%[[Y]], %{{.*}} : tensor<2x3xf32>, tensor<3xf32>)
// CHECK: arith.maximumf
func.func @csr_batched(%x: tensor<2x4xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi16>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o, %b) {format = "csr", pattern = "csr", params = {kc = 4 : i64, col_bits = 16 : i64}, tiles = {mb = 2 : i64, rows = 32 : i64, unroll = 4 : i64, chains = 2 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 0>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi16>, tensor<4xi32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// Batch 1: a scalar CSR kernel on x as a vector [4], result [3]; its tiles from the op.
// CHECK-LABEL: func.func private @sparsile_dispatch_0
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: memref<4xf32>, %{{.*}}: memref<3xf32>, %{{.*}}: memref<3xi32>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<3xf32>)
// CHECK-SAME: attributes {sparsile.workgroups = array<i64: 2, 1, 1>}
// CHECK: math.fma
// CHECK-LABEL: func.func @csr_batch1
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
// CHECK: call @sparsile_dispatch_0
// CHECK: tensor.expand_shape
func.func @csr_batch1(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 4 : i64, col_bits = 32 : i64}, tiles = {rows = 2 : i64, unroll = 8 : i64, chains = 4 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// K-chunked storage (kc = 2 of K = 4): offsets per (chunk, row), absolute columns.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: memref<7xi32>
// CHECK: scf.for
// CHECK-LABEL: func.func @csr_chunked
// CHECK-DAG: %[[OFFS:.*]] = arith.constant {{.*}}dense<[0, 1, 1, 2, 3, 3, 3]> : tensor<7xi32>
// CHECK: call @sparsile_dispatch_0(%{{.*}}, %{{.*}}, %{{.*}}, %[[OFFS]])
func.func @csr_chunked(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %v = arith.constant dense<[1.0, 3.0, 2.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 1, 3]> : tensor<3xi16>
  %o = arith.constant dense<[0, 1, 1, 2, 3, 3, 3]> : tensor<7xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 2 : i64, col_bits = 16 : i64}, tiles = {mb = 2 : i64, rows = 32 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi16>, tensor<7xi32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// 3 rows in a 4-row activation block: x is padded with a zero row, the result sliced back.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: memref<1x4x4xf32>
// CHECK-LABEL: func.func @csr_padded_rows
// CHECK: %[[PAD:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [3, 4] [1, 1] : tensor<3x4xf32> into tensor<4x4xf32>
// CHECK: tensor.expand_shape %[[PAD]]
// CHECK: call @sparsile_dispatch_0
// CHECK: %[[Y:.*]] = tensor.extract_slice %{{.*}}[0, 0] [3, 3] [1, 1] : tensor<4x3xf32> to tensor<3x3xf32>
// CHECK: return %[[Y]]
func.func @csr_padded_rows(%x: tensor<3x4xf32>) -> tensor<3x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi16>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 4 : i64, col_bits = 16 : i64}, tiles = {mb = 4 : i64, rows = 32 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<3x4xf32>, tensor<3xf32>, tensor<3xi16>, tensor<4xi32>) -> tensor<3x3xf32>
  return %y : tensor<3x3xf32>
}
