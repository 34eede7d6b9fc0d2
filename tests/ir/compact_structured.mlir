// RUN: sparsile opt -p compact-structured,canonicalize --split-input-file %s | filecheck %s

// Neuron 1 of the first layer is pruned (zero row, zero bias, ReLU keeps it 0): the first
// kernel stores and computes 2 outputs instead of 3, the second layer's weight loses column 1.
// CHECK-LABEL: func.func @chain
// CHECK-DAG: %[[W1:.*]] = arith.constant {{.*}}dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00]]> : tensor<2x4xf32>
// CHECK-DAG: %[[B1:.*]] = arith.constant {{.*}}dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
// CHECK-DAG: %[[W2:.*]] = arith.constant {{.*}}dense<{{\[}}[1.000000e+00, 0.000000e+00], [0.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[H:.*]] = "sparsile.matmul"(%{{.*}}, %[[W1]], %[[B1]]) {{.*}}format = "dense"{{.*}}out_features = 2 : i64{{.*}}pattern = "channels"{{.*}}compacted = "3 -> 2 outputs"{{.*}} -> tensor<2x2xf32>
// CHECK: "sparsile.matmul"(%[[H]], %[[W2]]) {{.*}}in_features = 2 : i64{{.*}}pattern = "csr"{{.*}}compacted_inputs = "3 -> 2"{{.*}} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
func.func @chain(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<3x4xf32>
  %b1 = arith.constant dense<[0.5, 0.0, -0.5]> : tensor<3xf32>
  %h = "sparsile.matmul"(%x, %w1, %b1) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc1", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 1, 0>} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %w2 = arith.constant dense<[[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]> : tensor<2x3xf32>
  %y = "sparsile.matmul"(%h, %w2) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 2 : i64, in_features = 3 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc2", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// A pruned neuron with a nonzero bias is not zero after the epilogue: nothing changes.
// CHECK-LABEL: func.func @live_bias
// CHECK: "sparsile.matmul"({{.*}}) {{.*}}out_features = 3 : i64
// CHECK-NOT: compacted
func.func @live_bias(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<3x4xf32>
  %b1 = arith.constant dense<[0.5, 0.25, -0.5]> : tensor<3xf32>
  %h = "sparsile.matmul"(%x, %w1, %b1) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc1", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 1, 0>} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %w2 = arith.constant dense<[[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]> : tensor<2x3xf32>
  %y = "sparsile.matmul"(%h, %w2) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 2 : i64, in_features = 3 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc2", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// A 2:4 consumer whose groups break when a column goes is stored as csr from then on.
// CHECK-LABEL: func.func @pattern_rechecked
// CHECK: "sparsile.matmul"({{.*}}) {{.*}}out_features = 3 : i64{{.*}}pattern = "channels"
// CHECK: "sparsile.matmul"({{.*}}) {{.*}}in_features = 3 : i64{{.*}}pattern = "csr"
func.func @pattern_rechecked(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0], [5.0, 6.0, 7.0, 8.0], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>
  %h = "sparsile.matmul"(%x, %w1) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 4 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc1", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
  %w2 = arith.constant dense<[[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 4.0]]> : tensor<2x4xf32>
  %y = "sparsile.matmul"(%h, %w2) {format = "dense", pattern = "2:4", params = {}, tiles = {}, out_features = 2 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc2", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x4xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
