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
