// RUN: sparsile opt -p "lower-to-iree{reference=true},canonicalize,check-iree-input" --split-input-file %s | filecheck %s
// RUN: sparsile opt -p "lower-to-iree,canonicalize,check-iree-input" --split-input-file %s | filecheck %s --check-prefix=CPU

// The reference lowering: the weight unpacked from its storage to dense [out, in],
// transposed as the importer does (the form IREE compiles best), a matmul, and one
// generic for the epilogue: act(acc * scale + bias) + residual.
// CHECK-LABEL: func.func @csr_bias_relu_residual
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[B:.*]]: tensor<3xf32>, %[[R:.*]]: tensor<2x3xf32>)
// CHECK: %[[W:.*]] = arith.constant {{.*}}dense<{{\[}}[1.000000e+00, 0.000000e+00, 0.000000e+00, 2.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 3.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x4xf32>
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
  %y = "sparsile.matmul"(%x, %v, %c, %o, %bias, %res) {tiles = {}, format = "csr", pattern = "csr", params = {kc = 4 : i64, col_bits = 32 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 0.5 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 1>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>, tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// No epilogue: the matmul result is returned directly.
// CHECK-LABEL: func.func @dense_plain
// CHECK: %[[ACC:.*]] = linalg.matmul
// CHECK-NOT: linalg.generic
// CHECK: return %[[ACC]]
func.func @dense_plain(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0, 4.0], [0.0, 0.0, 5.0, 6.0, 7.0, 0.0, 8.0, 0.0]]> : tensor<2x8xf32>
  %y = "sparsile.matmul"(%x, %w) {params = {}, tiles = {}, format = "dense", pattern = "2:4", out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// GELU (erf and tanh forms) and SiLU epilogues; the tanh form as x / (1 + exp(-2u)).
// CHECK-LABEL: func.func @gelu
// CHECK: math.erf
// CHECK-LABEL: func.func @gelu_tanh
// CHECK-NOT: math.tanh
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: math.exp
// CHECK: arith.divf
// CHECK-LABEL: func.func @silu
// CHECK: math.exp
// CHECK: arith.divf
func.func @gelu(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %y = "sparsile.matmul"(%x, %v, %r, %c) {params = {}, tiles = {}, format = "channels", pattern = "channels", out_features = 2 : i64, in_features = 2 : i64, epilogue = "gelu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @gelu_tanh(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %y = "sparsile.matmul"(%x, %w) {params = {}, tiles = {}, format = "dense", pattern = "dense", out_features = 2 : i64, in_features = 2 : i64, epilogue = "gelu_tanh", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @silu(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %y = "sparsile.matmul"(%x, %v, %r, %c) {params = {}, tiles = {}, format = "channels", pattern = "channels", out_features = 2 : i64, in_features = 2 : i64, epilogue = "silu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Kept channels that compact-structured could not remove: the kept input columns are
// gathered, the sub-matrix multiplied dense, the kept rows scattered into the full output
// (zeros elsewhere) before the epilogue, with no dense copy of the weight.
// The reference lowering multiplies the unpacked [3, 4] weight instead.
// CHECK-LABEL: func.func @channels_gather_scatter
// CHECK: arith.constant {{.*}}dense<{{.*}}> : tensor<3x4xf32>
// CPU-LABEL: func.func @channels_gather_scatter
// CPU-DAG: %[[SLOTS:.*]] = arith.constant {sparsile.name = "fc.row_slots"} dense<[0, -1, 1]> : tensor<3xi32>
// CPU-DAG: arith.constant {sparsile.name = "fc.values"} dense<{{.*}}> : tensor<2x2xf32>
// CPU: %[[G:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<2xi32>) outs(%{{.*}} : tensor<1x2xf32>)
// CPU: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}] : tensor<1x4xf32>
// CPU: %[[ACC:.*]] = linalg.matmul ins(%[[G]], %{{.*}} : tensor<1x2xf32>, tensor<2x2xf32>)
// CPU: linalg.generic {{.*}} ins(%[[SLOTS]] : tensor<3xi32>) outs(%{{.*}} : tensor<1x3xf32>)
// CPU: arith.select
func.func @channels_gather_scatter(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, -1, 1]> : tensor<3xi32>
  %c = arith.constant dense<[1, 3]> : tensor<2xi32>
  %y = "sparsile.matmul"(%x, %v, %r, %c) {params = {}, tiles = {}, format = "channels", pattern = "channels", out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x2xf32>, tensor<3xi32>, tensor<2xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}
