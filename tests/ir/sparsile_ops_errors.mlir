// RUN: sparsile opt --split-input-file --verify-diagnostics %s

// The kernel op's verifier checks its shapes and asks the storage format about its storage.

func.func @offsets(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 5, 7]> : tensor<3xi32>
  %o = arith.constant dense<[0, 1, 1, 2]> : tensor<4xi32>
  // expected-error @+1 {{'sparsile.matmul' storage 'offsets' must be [5], got [4]}}
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 8 : i64, col_bits = 32 : i64}, tiles = {}, out_features = 4 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @column_out_of_range(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 9]> : tensor<2xi32>
  %o = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  // expected-error @+1 {{'sparsile.matmul' storage 'cols' holds a column outside its 8-column chunk or beyond in_features = 8}}
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 8 : i64, col_bits = 32 : i64}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2xf32>, tensor<2xi32>, tensor<3xi32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @column_width(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %o = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  // expected-error @+1 {{'sparsile.matmul' storage 'cols' must hold i16, not i32}}
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 8 : i64, col_bits = 16 : i64}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2xf32>, tensor<2xi32>, tensor<3xi32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @csr_params(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %o = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  // expected-error @+1 {{'sparsile.matmul' with format 'csr' needs params kc > 0 and col_bits 16 or 32}}
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2xf32>, tensor<2xi32>, tensor<3xi32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @input_width(%x: tensor<2x6xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x8xf32>
  // expected-error @+1 {{'sparsile.matmul' input [2, 6] must end in in_features = 8}}
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "dense", params = {}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x6xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @epilogue(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x8xf32>
  // expected-error @+1 {{'sparsile.matmul' has unknown epilogue 'swish'; expected one of none, relu, gelu, gelu_tanh, silu}}
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "dense", params = {}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "swish", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @unknown_format(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x8xf32>
  // expected-error @+1 {{'sparsile.matmul' unknown storage format 'coo'; formats: bell, bitmask, bsr, channels, csr, dense, ell, nm, nmell}}
  %y = "sparsile.matmul"(%x, %w) {format = "coo", pattern = "csr", params = {}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @block_shape(%x: tensor<2x8xf32>) -> tensor<2x6xf32> {
  %v = arith.constant dense<1.0> : tensor<1x4x4xf32>
  %c = arith.constant dense<0> : tensor<1xi32>
  %o = arith.constant dense<[0, 1]> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.matmul' with format 'bsr' needs params block dividing the weight shape [6, 8]}}
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "bsr", pattern = "bsr4", params = {block = 4 : i64}, tiles = {}, out_features = 6 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<1x4x4xf32>, tensor<1xi32>, tensor<2xi32>) -> tensor<2x6xf32>
  return %y : tensor<2x6xf32>
}

// -----

func.func @nm_positions(%x: tensor<1x4xf32>) -> tensor<1x16xf32> {
  %v = arith.constant dense<1.0> : tensor<1x1x2x16xf32>
  %p = arith.constant dense<1> : tensor<1x1x2x16xi8>
  // expected-error @+1 {{'sparsile.matmul' storage 'positions' must hold two increasing slots in 0..3 per group of four}}
  %y = "sparsile.matmul"(%x, %v, %p) {format = "nm", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64, lanes = 16 : i64}, tiles = {}, out_features = 16 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<1x1x2x16xf32>, tensor<1x1x2x16xi8>) -> tensor<1x16xf32>
  return %y : tensor<1x16xf32>
}

// -----

func.func @bias(%x: tensor<1x2xf32>, %b: tensor<3xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.matmul' bias [3] must be [2]}}
  %y = "sparsile.matmul"(%x, %v, %r, %c, %b) {format = "channels", pattern = "channels", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>, tensor<2xi32>, tensor<3xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @channel_indices(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.matmul' storage 'row_slots' must hold i32, not f32}}
  %y = "sparsile.matmul"(%x, %v, %r, %c) {format = "channels", pattern = "channels", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @storage_count(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %r = arith.constant dense<[0, 1]> : tensor<2xi32>
  // expected-error @+1 {{'sparsile.matmul' with format 'channels' takes 3 storage operands (values, row_slots, cols), got 2}}
  %y = "sparsile.matmul"(%x, %v, %r) {format = "channels", pattern = "channels", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xi32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @nmell_places(%x: tensor<2x8xf32>) -> tensor<2x1xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32>
  %p = arith.constant dense<[[0, 3, 2, 1]]> : tensor<1x4xi8>
  // expected-error @+1 {{'sparsile.matmul' storage 'positions' must hold 2 rising places in 0..3 per group of 4}}
  %y = "sparsile.matmul"(%x, %v, %p) {format = "nmell", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64}, tiles = {}, out_features = 1 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<1x4xf32>, tensor<1x4xi8>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

func.func @nmell_group(%x: tensor<2x6xf32>) -> tensor<2x1xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>
  %p = arith.constant dense<[[0, 1, 2]]> : tensor<1x3xi8>
  // expected-error @+1 {{'sparsile.matmul' with format 'nmell' needs in_features (6) to be a multiple of m = 4}}
  %y = "sparsile.matmul"(%x, %v, %p) {format = "nmell", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64}, tiles = {}, out_features = 1 : i64, in_features = 6 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<2x6xf32>, tensor<1x3xf32>, tensor<1x3xi8>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

func.func @nmell_position_type(%x: tensor<2x8xf32>) -> tensor<2x1xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32>
  %p = arith.constant dense<[[0, 3, 1, 2]]> : tensor<1x4xi32>
  // expected-error @+1 {{'sparsile.matmul' storage 'positions' must hold i8, not i32}}
  %y = "sparsile.matmul"(%x, %v, %p) {format = "nmell", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64}, tiles = {}, out_features = 1 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<1x4xf32>, tensor<1x4xi32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// int4 ELL values are stored two slots per byte: a row of an odd number of slots is refused.
func.func @int4_odd_width(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>
  %c = arith.constant dense<[[0, 1, 2], [3, 4, 5]]> : tensor<2x3xi16>
  %s = arith.constant dense<[[1.0], [1.0]]> : tensor<2x1xf32>
  // expected-error @+1 {{'sparsile.matmul' with format 'ell': 2 slots share a stored element: the slots per row (3) must be a multiple of 2}}
  %y = "sparsile.matmul"(%x, %v, %c, %s) {format = "ell", pattern = "csr", params = {width = 3 : i64, col_bits = 16 : i64, quant = "int4-g128"}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x2xi8>, tensor<2x3xi16>, tensor<2x1xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// Quantized values are integers: float values under quant = "int8" are refused.
func.func @int8_as_floats(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %c = arith.constant dense<[[0, 1], [3, 4]]> : tensor<2x2xi16>
  %s = arith.constant dense<[1.0, 1.0]> : tensor<2xf32>
  // expected-error @+1 {{'sparsile.matmul' storage 'values' must hold i8, not f32}}
  %y = "sparsile.matmul"(%x, %v, %c, %s) {format = "ell", pattern = "csr", params = {width = 2 : i64, col_bits = 16 : i64, quant = "int8"}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x2xf32>, tensor<2x2xi16>, tensor<2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// int4 scales are one per row and group of 128 input columns.
func.func @int4_row_scales(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  %v = arith.constant dense<[[[1], [2]], [[3], [4]]]> : tensor<2x2x1xi8>
  %c = arith.constant dense<[[0, 1], [2, 3]]> : tensor<2x2xi16>
  %s = arith.constant dense<[1.0, 1.0, 1.0, 1.0]> : tensor<4xf32>
  // expected-error @+1 {{'sparsile.matmul' storage 'scales' must be [4, 1], got [4]}}
  %y = "sparsile.matmul"(%x, %v, %c, %s) {format = "bell", pattern = "bsr2", params = {block = 2 : i64, width = 1 : i64, col_bits = 16 : i64, quant = "int4-g128"}, tiles = {}, out_features = 4 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<4x8xf32>, tensor<2x2x1xi8>, tensor<2x2xi16>, tensor<4xf32>) -> tensor<4x4xf32>
  return %y : tensor<4x4xf32>
}

// -----

// 32-bit words hold what the quantization says: int8 values cannot be float16 words.
func.func @words_of_another_type(%x: tensor<2x8xf32>) -> tensor<2x2xf32> {
  %v = arith.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi32>
  %p = arith.constant dense<[[0, 1, 0, 1], [2, 3, 2, 3]]> : tensor<2x4xi8>
  %s = arith.constant dense<[1.0, 1.0]> : tensor<2xf32>
  // expected-error @+1 {{'sparsile.matmul' with format 'nmell': word_values 'f16' does not hold int8 values}}
  %y = "sparsile.matmul"(%x, %v, %p, %s) {format = "nmell", pattern = "2:4", params = {n = 2 : i64, m = 4 : i64, quant = "int8", word_values = "f16"}, tiles = {}, out_features = 2 : i64, in_features = 8 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x8xf32>, tensor<2x2xi32>, tensor<2x4xi8>, tensor<2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// The permute expand loads eight values at every half tile's start: the storage must end with 8 spare values.
func.func @bitmask_permute_without_spare_values(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[1.0, 2.0, 3.0, 0.0]> : tensor<4xf32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  // expected-error @+1 {{'sparsile.matmul' storage 'values' must hold 8 spare values after the last nonzero for the permute expand (it holds 4, the masks mark 3)}}
  %y = "sparsile.matmul"(%x, %m, %v, %o) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64, expand = "permute"}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<3x1xi64>, tensor<4xf32>, tensor<4xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

func.func @bitmask_unknown_expand(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  // expected-error @+1 {{'sparsile.matmul' with format 'bitmask': params expand must be one of expandload, permute, got 'gather'}}
  %y = "sparsile.matmul"(%x, %m, %v, %o) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64, expand = "gather"}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<3x1xi64>, tensor<3xf32>, tensor<4xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}
