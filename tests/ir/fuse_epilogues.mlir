// RUN: sparsile opt -p fuse-epilogues --split-input-file %s | filecheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>

// Bias add, then compare-and-select ReLU, then a residual add: all into the kernel.
// CHECK-LABEL: func.func @bias_relu_residual
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[B:.*]]: tensor<3xf32>, %[[R:.*]]: tensor<2x3xf32>)
// CHECK: %[[Y:.*]] = "sparsile.matmul"(%[[X]], %{{.*}}, %[[B]], %[[R]]) {epilogue = "relu"{{.*}}operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 1, 1>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @bias_relu_residual(%x: tensor<2x4xf32>, %b: tensor<3xf32>, %res: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  %biased = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]} ins(%y, %b : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%in: f32, %bias: f32, %out: f32):
    %s = arith.addf %in, %bias : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  %act = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%biased : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %gt = arith.cmpf ugt, %in, %zero : f32
    %r = arith.select %gt, %in, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x3xf32>
  %sum = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%act, %res : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%in: f32, %r: f32, %out: f32):
    %s = arith.addf %in, %r : f32
    linalg.yield %s : f32
  } -> tensor<2x3xf32>
  return %sum : tensor<2x3xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// A scale after the activation does not fit act(acc * scale + bias): it stays a generic.
// CHECK-LABEL: func.func @scale_after_activation
// CHECK: "sparsile.matmul"{{.*}}epilogue = "relu"{{.*}}scale = 1.000000e+00
// CHECK: linalg.generic
// CHECK: arith.mulf
func.func @scale_after_activation(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  %act = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%y : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %zero : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  %scaled = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%act : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %half : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  return %scaled : tensor<2x3xf32>
}

// -----

#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>

// GELU (erf form) applied on the expanded [b, s, n] view, collapsed back: fused through the reshapes.
// CHECK-LABEL: func.func @gelu_through_reshape
// CHECK: %[[Y:.*]] = "sparsile.matmul"{{.*}}epilogue = "gelu"
// CHECK-NOT: tensor.expand_shape
// CHECK: return %[[Y]]
func.func @gelu_through_reshape(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %sqrt2 = arith.constant 1.41421354 : f32
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x4xf32>, tensor<3x4xf32>) -> tensor<2x3xf32>
  %e3 = tensor.expand_shape %y [[0, 1], [2]] output_shape [1, 2, 3] : tensor<2x3xf32> into tensor<1x2x3xf32>
  %init = tensor.empty() : tensor<1x2x3xf32>
  %g = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%e3 : tensor<1x2x3xf32>) outs(%init : tensor<1x2x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %sqrt2 : f32
    %erf = math.erf %d : f32
    %p = arith.addf %erf, %one : f32
    %h = arith.mulf %p, %half : f32
    %r = arith.mulf %in, %h : f32
    linalg.yield %r : f32
  } -> tensor<1x2x3xf32>
  %back = tensor.collapse_shape %g [[0, 1], [2]] : tensor<1x2x3xf32> into tensor<2x3xf32>
  return %back : tensor<2x3xf32>
}
