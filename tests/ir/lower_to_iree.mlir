// RUN: sparsile opt -p "lower-to-iree{reference=true},canonicalize,check-iree-input" --split-input-file %s | filecheck %s

// The reference lowering: the dense [out, in] weight, transposed as the importer does
// (the form IREE compiles best), a matmul, and one generic for the epilogue:
// act(acc * scale + bias) + residual.
// CHECK-LABEL: func.func @csr_bias_relu_residual
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[B:.*]]: tensor<3xf32>, %[[R:.*]]: tensor<2x3xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00, 0.000000e+00, 2.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 3.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x4xf32>
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[W]] : tensor<3x4xf32>) outs(%{{.*}} : tensor<4x3xf32>) permutation = [1, 0]
// CHECK: %[[ACC:.*]] = linalg.matmul ins(%[[X]], %[[WT]] : tensor<2x4xf32>, tensor<4x3xf32>)
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[ACC]], %[[B]], %[[R]] : tensor<2x3xf32>, tensor<3xf32>, tensor<2x3xf32>)
// CHECK: ^bb0(%[[A:.*]]: f32, %[[BB:.*]]: f32, %[[RR:.*]]: f32, %{{.*}}: f32):
// CHECK:   %[[S:.*]] = arith.mulf %[[A]], %{{.*}} : f32
// CHECK:   %[[SB:.*]] = arith.addf %[[S]], %[[BB]] : f32
// CHECK:   %[[ACT:.*]] = arith.maximumf %[[SB]], %{{.*}} : f32
// CHECK:   %[[OUT:.*]] = arith.addf %[[ACT]], %[[RR]] : f32
// CHECK:   linalg.yield %[[OUT]] : f32
// CHECK-NOT: sparsile.
// CHECK: return %[[Y]]
func.func @csr_bias_relu_residual(%x: tensor<2x4xf32>, %bias: tensor<3xf32>, %res: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o, %bias, %res) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 0.5 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// No epilogue: the matmul result is returned directly.
// CHECK-LABEL: func.func @nm_plain
// CHECK: %[[ACC:.*]] = linalg.matmul
// CHECK-NOT: linalg.generic
// CHECK: return %[[ACC]]
func.func @nm_plain(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %p = arith.constant dense<[[0, 1, 1, 3], [2, 3, 0, 2]]> : tensor<2x4xi8>
  %y = "sparsile.nm_matmul"(%x, %v, %p) {out_features = 2 : i64, in_features = 8 : i64, n = 2 : i64, m = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x4xi8>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// GELU (erf form) and SiLU epilogues.
// CHECK-LABEL: func.func @gelu
// CHECK: math.erf
// CHECK-LABEL: func.func @silu
// CHECK: math.exp
// CHECK: arith.divf
func.func @gelu(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %y = "sparsile.channel_matmul"(%x, %v, %r, %c) {out_features = 2 : i64, in_features = 2 : i64, epilogue = "gelu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @silu(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %y = "sparsile.channel_matmul"(%x, %v, %r, %c) {out_features = 2 : i64, in_features = 2 : i64, epilogue = "silu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
