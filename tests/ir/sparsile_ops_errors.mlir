// RUN: sparsile opt --split-input-file --verify-diagnostics %s

// The verifiers of the sparsile kernel ops reject inconsistent packings.

func.func @offsets(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 5, 7]> : tensor<3xi32>
  %o = arith.constant dense<[0, 1, 1, 2]> : tensor<4xi32>
  // expected-error @+1 {{'sparsile.csr_matmul' row_offsets [4] must be [out_features + 1]}}
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o) {out_features = 4 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<2x8xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @input_width(%x: tensor<2x6xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<1.0> : tensor<2x4xf32>
  %p = arith.constant dense<0> : tensor<2x4xi8>
  // expected-error @+1 {{'sparsile.nm_matmul' input [2, 6] must end in in_features = 8}}
  %y = "sparsile.nm_matmul"(%x, %v, %p) {out_features = 2 : i64, in_features = 8 : i64, n = 2 : i64, m = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x6xf32>, tensor<2x4xf32>, tensor<2x4xi8>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @epilogue(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<1.0> : tensor<2x4xf32>
  %p = arith.constant dense<0> : tensor<2x4xi8>
  // expected-error @+1 {{'sparsile.nm_matmul' has unknown epilogue 'swish'; expected one of none, relu, gelu, gelu_tanh, silu}}
  %y = "sparsile.nm_matmul"(%x, %v, %p) {out_features = 2 : i64, in_features = 8 : i64, n = 2 : i64, m = 4 : i64, epilogue = "swish", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<2x8xf32>, tensor<2x4xf32>, tensor<2x4xi8>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @block(%x: tensor<2x8xf32>) -> tensor<2x6xf32> {
  %v = arith.constant dense<1.0> : tensor<1x4x4xf32>
  %c = arith.constant dense<0> : tensor<1xi32>
  %o = arith.constant dense<0> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.bsr_matmul' block 4 must divide the weight shape [6, 8]}}
  %y = "sparsile.bsr_matmul"(%x, %v, %c, %o) {out_features = 6 : i64, in_features = 8 : i64, block = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<2x8xf32>, tensor<1x4x4xf32>, tensor<1xi32>, tensor<2xi32>) -> tensor<2x6xf32>
  return %y : tensor<2x6xf32>
}

// -----

func.func @bias(%x: tensor<1x2xf32>, %b: tensor<3xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<1.0> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.channel_matmul' bias [3] must be [2]}}
  %y = "sparsile.channel_matmul"(%x, %v, %r, %c, %b) {out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>, tensor<2xi32>, tensor<3xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @index_type(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<1.0> : tensor<2x2xf32>
  %r = arith.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.channel_matmul' rows must hold i8 or i32 indices, not f32}}
  %y = "sparsile.channel_matmul"(%x, %v, %r, %c) {out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
