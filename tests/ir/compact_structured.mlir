// RUN: sparsile opt -p compact-structured,canonicalize --split-input-file %s | filecheck %s

// Neuron 1 of the first layer is pruned (zero row, zero bias, ReLU keeps it 0):
// the first kernel computes 2 outputs instead of 3, the second layer's weight loses column 1.
// CHECK-LABEL: func.func @chain
// CHECK: %[[H:.*]] = "sparsile.channel_matmul"({{.*}}) {{.*}}out_features = 2 : i64{{.*}} -> tensor<2x2xf32>
// CHECK: "sparsile.csr_matmul"(%[[H]], {{.*}}in_features = 2 : i64{{.*}} : (tensor<2x2xf32>, {{.*}}) -> tensor<2x2xf32>
func.func @chain(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %v1 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %r1 = arith.constant dense<[0, 2]> : tensor<2xi32>
  %c1 = arith.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
  %b1 = arith.constant dense<[0.5, 0.0, -0.5]> : tensor<3xf32>
  %h = "sparsile.channel_matmul"(%x, %v1, %r1, %c1, %b1) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc1", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2xi32>, tensor<4xi32>, tensor<3xf32>) -> tensor<2x3xf32>
  %v2 = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %col2 = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  %off2 = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %y = "sparsile.csr_matmul"(%h, %v2, %col2, %off2) {out_features = 2 : i64, in_features = 3 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc2", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// A pruned neuron with a nonzero bias is not zero after the epilogue: nothing changes.
// CHECK-LABEL: func.func @live_bias
// CHECK: "sparsile.channel_matmul"({{.*}}) {{.*}}out_features = 3 : i64
func.func @live_bias(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %v1 = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %r1 = arith.constant dense<[0, 2]> : tensor<2xi32>
  %c1 = arith.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
  %b1 = arith.constant dense<[0.5, 0.25, -0.5]> : tensor<3xf32>
  %h = "sparsile.channel_matmul"(%x, %v1, %r1, %c1, %b1) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc1", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2xi32>, tensor<4xi32>, tensor<3xf32>) -> tensor<2x3xf32>
  %v2 = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %col2 = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  %off2 = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %y = "sparsile.csr_matmul"(%h, %v2, %col2, %off2) {out_features = 2 : i64, in_features = 3 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc2", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
