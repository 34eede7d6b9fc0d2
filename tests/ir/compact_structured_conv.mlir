// RUN: sparsile opt -p compact-structured,canonicalize --split-input-file %s | filecheck %s

// Filter 1 of the first convolution is removed and its bias (-1) is zero after ReLU: the
// kernel computes one channel, the zero padding between is rebuilt for it, and the next
// convolution loses the input channel's columns.
// CHECK-LABEL: func.func @zero_channel
// CHECK-DAG: %[[W1:.*]] = arith.constant {{.*}}dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK-DAG: %[[B1:.*]] = arith.constant {{.*}}dense<5.000000e-01> : tensor<1xf32>
// CHECK-DAG: %[[W2:.*]] = arith.constant {{.*}}dense<3.000000e+00> : tensor<1x1xf32>
// CHECK: %[[H:.*]] = "sparsile.conv"(%{{.*}}, %[[W1]], %[[B1]]) {{.*}}compacted = "2 -> 1 outputs"{{.*}} -> tensor<1x1x4x4xf32>
// CHECK: %[[P:.*]] = tensor.pad %[[H]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: } : tensor<1x1x4x4xf32> to tensor<1x1x6x6xf32>
// CHECK: "sparsile.conv"(%[[P]], %[[W2]]) {{.*}}in_features = 1 : i64{{.*}}compacted_inputs = "2 -> 1"{{.*}} : (tensor<1x1x6x6xf32>, tensor<1x1xf32>) -> tensor<1x1x6x6xf32>
func.func @zero_channel(%x: tensor<1x2x4x4xf32>) -> tensor<1x1x6x6xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0], [0.0, 0.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %h = "sparsile.conv"(%x, %w1, %b1) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "c1", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 1, 0>} : (tensor<1x2x4x4xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %h low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  %w2 = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %y = "sparsile.conv"(%p, %w2) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 1 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c2", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x2x6x6xf32>, tensor<1x2xf32>) -> tensor<1x1x6x6xf32>
  return %y : tensor<1x1x6x6xf32>
}

// -----

// Removed filters 1 and 2 hold their ReLU'd biases, 1 and 2, at every position: constant
// channels. Channel 1 is kept (zero filter, its bias) and carries both: the consumer's column
// for it becomes 4 + (2 / 1) * 5 = 14. The kept constant channel is computed, not scattered
// (pattern dense).
// CHECK-LABEL: func.func @constant_channels
// CHECK-DAG: %[[W1:.*]] = arith.constant {{.*}}dense<{{\[}}[1.000000e+00, 2.000000e+00], [0.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG: %[[B1:.*]] = arith.constant {{.*}}dense<[0.000000e+00, 1.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[W2:.*]] = arith.constant {{.*}}dense<{{\[}}[3.000000e+00, 1.400000e+01]]> : tensor<1x2xf32>
// CHECK: %[[H:.*]] = "sparsile.conv"(%{{.*}}, %[[W1]], %[[B1]]) {{.*}}pattern = "dense"{{.*}}compacted = "3 -> 2 outputs"{{.*}}merged_constant_channels = 2
// CHECK: "sparsile.conv"(%[[H]], %[[W2]]) {{.*}}in_features = 2 : i64
func.func @constant_channels(%x: tensor<1x2x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0], [0.0, 0.0], [0.0, 0.0]]> : tensor<3x2xf32>
  %b1 = arith.constant dense<[0.0, 1.0, 2.0]> : tensor<3xf32>
  %h = "sparsile.conv"(%x, %w1, %b1) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 3 : i64, in_features = 2 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "c1", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 1, 0>} : (tensor<1x2x4x4xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<1x3x4x4xf32>
  %w2 = arith.constant dense<[[3.0, 4.0, 5.0]]> : tensor<1x3xf32>
  %y = "sparsile.conv"(%h, %w2) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 1 : i64, in_features = 3 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c2", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x3x4x4xf32>, tensor<1x3xf32>) -> tensor<1x1x4x4xf32>
  return %y : tensor<1x1x4x4xf32>
}

// -----

// Through a max pool and a global average pool (sum, then divide) into a linear layer: its
// weight loses the removed channel's column.
// CHECK-LABEL: func.func @into_linear
// CHECK: %[[H:.*]] = "sparsile.conv"({{.*}}) {{.*}}out_features = 1 : i64{{.*}} -> tensor<1x1x4x4xf32>
// CHECK: linalg.pooling_nchw_max {{.*}} ins(%[[H]], %{{.*}} : tensor<1x1x4x4xf32>, tensor<2x2xf32>) {{.*}} -> tensor<1x1x2x2xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<1x1x2x2xf32>) outs(%{{.*}} : tensor<1x1xf32>)
// CHECK: %[[M:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<1x1xf32>) outs(%{{.*}} : tensor<1x1xf32>)
// CHECK: linalg.matmul {sparsile.sparsity = {compacted_inputs = "2 -> 1"{{.*}}} ins(%[[M]], %{{.*}} : tensor<1x1xf32>, tensor<1x3xf32>)
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#nc = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @into_linear(%x: tensor<1x2x4x4xf32>) -> tensor<1x3xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0], [0.0, 0.0]]> : tensor<2x2xf32>
  %h = "sparsile.conv"(%x, %w1) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "c1", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x2x4x4xf32>, tensor<2x2xf32>) -> tensor<1x2x4x4xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %four = arith.constant 4.0 : f32
  %pe = tensor.empty() : tensor<1x2x2x2xf32>
  %pinit = linalg.fill ins(%ninf : f32) outs(%pe : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %window = tensor.empty() : tensor<2x2xf32>
  %pooled = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%h, %window : tensor<1x2x4x4xf32>, tensor<2x2xf32>) outs(%pinit : tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
  %se = tensor.empty() : tensor<1x2xf32>
  %sinit = linalg.fill ins(%zero : f32) outs(%se : tensor<1x2xf32>) -> tensor<1x2xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #nc], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%pooled : tensor<1x2x2x2xf32>) outs(%sinit : tensor<1x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<1x2xf32>
  %mean = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]} ins(%sum : tensor<1x2xf32>) outs(%se : tensor<1x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %four : f32
    linalg.yield %d : f32
  } -> tensor<1x2xf32>
  %w2 = arith.constant {sparsile.sparsity = {layer = "fc", in_features = 2 : i64, out_features = 3 : i64}} dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %ye = tensor.empty() : tensor<1x3xf32>
  %yinit = linalg.fill ins(%zero : f32) outs(%ye : tensor<1x3xf32>) -> tensor<1x3xf32>
  %y = linalg.matmul {sparsile.sparsity = {layer = "fc", in_features = 2 : i64, out_features = 3 : i64}} ins(%mean, %w2 : tensor<1x2xf32>, tensor<2x3xf32>) outs(%yinit : tensor<1x3xf32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// A convolution with a residual keeps its channels: the add needs them all.
// CHECK-LABEL: func.func @residual
// CHECK: "sparsile.conv"({{.*}}) {{.*}}out_features = 2 : i64
// CHECK-NOT: compacted
func.func @residual(%x: tensor<1x2x4x4xf32>) -> tensor<1x1x4x4xf32> {
  %w1 = arith.constant dense<[[1.0, 2.0], [0.0, 0.0]]> : tensor<2x2xf32>
  %h = "sparsile.conv"(%x, %w1, %x) {format = "dense", pattern = "channels", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c1", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 1>} : (tensor<1x2x4x4xf32>, tensor<2x2xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %w2 = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %y = "sparsile.conv"(%h, %w2) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 1 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c2", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x2x4x4xf32>, tensor<1x2xf32>) -> tensor<1x1x4x4xf32>
  return %y : tensor<1x1x4x4xf32>
}
