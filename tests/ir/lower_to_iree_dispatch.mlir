// RUN: sparsile opt -p lower-to-iree,canonicalize,check-iree-input --split-input-file %s | filecheck %s

// Batched CSR: x [2, 4] goes feature-major (xt [1, 4, 2]) into a hand-written K-blocked
// kernel whose operands are the chunked CSR (values, 16-bit columns, offsets); bias and
// ReLU run in the kernel's [1, 3, 2] layout, then y comes back as [2, 3].
// CHECK-LABEL: func.func private @sparsile_dispatch_0
// CHECK-SAME: attributes {sparsile.kernel = @sparsile_kernel_0}
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<1x4x2xf32>, %{{.*}}: memref<3xf32>, %{{.*}}: memref<3xi16>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<1x3x2xf32>)
// CHECK-SAME: attributes {sparsile.workgroups = array<i64: 1, 1, 1>}
// CHECK: scf.for
// CHECK: vector.fma
// CHECK-NOT: vector.gather
// CHECK-LABEL: func.func @csr_batched
// CHECK-DAG: %[[COLS:.*]] = arith.constant dense<[0, 3, 1]> : tensor<3xi16>
// CHECK-DAG: %[[OFFS:.*]] = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
// CHECK: %[[XT:.*]] = linalg.transpose ins(%{{.*}} : tensor<1x2x4xf32>) outs(%{{.*}} : tensor<1x4x2xf32>) permutation = [0, 2, 1]
// CHECK: %[[YT:.*]] = call @sparsile_dispatch_0(%[[XT]], %{{.*}}, %[[COLS]], %[[OFFS]])
// CHECK: linalg.generic {{.*}} ins(%[[YT]], %{{.*}} : tensor<1x3x2xf32>, tensor<3xf32>)
// CHECK: arith.maximumf
// CHECK: linalg.transpose {{.*}} permutation = [0, 2, 1]
func.func @csr_batched(%x: tensor<2x4xf32>, %b: tensor<3xf32>) -> tensor<2x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o, %b) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// Batch 1: a scalar CSR kernel on x as a vector [4], result [3].
// CHECK-LABEL: func.func private @sparsile_dispatch_0
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: memref<4xf32>, %{{.*}}: memref<3xf32>, %{{.*}}: memref<3xi16>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<3xf32>)
// CHECK: math.fma
// CHECK-LABEL: func.func @csr_batch1
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1]] : tensor<1x4xf32> into tensor<4xf32>
// CHECK: call @sparsile_dispatch_0
// CHECK: tensor.expand_shape
func.func @csr_batch1(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<1x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}
