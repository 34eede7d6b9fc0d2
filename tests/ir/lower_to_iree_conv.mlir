// RUN: sparsile opt -p lower-to-iree,canonicalize,check-iree-input --split-input-file %s | filecheck %s

// A 1x1 convolution stored as CSR runs through the direct sparse convolution, with no
// transpose: each image's channel planes are flattened into one row (x [1, 2, 3, 3] -> [1, 18],
// then 7 zeros so the last 16-position tile reads inside it), the dispatch reads the storage as
// it is plus each filter column's input offset (channel 1 starts at 9), and writes [1, 2, 16];
// the 9 positions of each channel are sliced out and the bias and ReLU run along the channels.
// CHECK-LABEL: func.func private @sparsile_dispatch_0
// CHECK-SAME: (tensor<1x25xf32>, tensor<3xf32>, tensor<3xi16>, tensor<3xi32>, tensor<2xi32>) -> tensor<1x2x16xf32>
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: memref<1x25xf32>, %{{.*}}: memref<3xf32>, %{{.*}}: memref<3xi16>, %{{.*}}: memref<3xi32>, %{{.*}}: memref<2xi32>, %{{.*}}: memref<1x2x16xf32>)
// CHECK-SAME: attributes {sparsile.workgroups = array<i64: 1, 1, 1>}
// CHECK: scf.for
// CHECK: vector.broadcast
// CHECK: vector.load
// CHECK: vector.fma
// CHECK-NOT: vector.gather
// CHECK-LABEL: func.func @pointwise
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x3x3xf32>)
// CHECK-DAG: %[[VALS:.*]] = arith.constant {{.*}}dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[COLS:.*]] = arith.constant {{.*}}dense<[0, 1, 1]> : tensor<3xi16>
// CHECK-DAG: %[[OFFS:.*]] = arith.constant {{.*}}dense<[0, 2, 3]> : tensor<3xi32>
// CHECK-DAG: %[[TAPS:.*]] = arith.constant {{.*}}dense<[0, 9]> : tensor<2xi32>
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0], [1, 2, 3]] : tensor<1x2x3x3xf32> into tensor<1x18xf32>
// CHECK: %[[ROWS:.*]] = tensor.insert_slice %[[FLAT]] into %{{.*}}[0, 0] [1, 18] [1, 1] : tensor<1x18xf32> into tensor<1x25xf32>
// CHECK: %[[Y:.*]] = call @sparsile_dispatch_0(%[[ROWS]], %[[VALS]], %[[COLS]], %[[OFFS]], %[[TAPS]])
// CHECK: %[[S:.*]] = tensor.extract_slice %[[Y]][0, 0, 0] [1, 2, 9] [1, 1, 1] : tensor<1x2x16xf32> to tensor<1x2x9xf32>
// CHECK: %[[G:.*]] = tensor.expand_shape %[[S]] {{\[}}[0], [1], [2, 3]] output_shape [1, 2, 3, 3]
// CHECK: linalg.generic {{.*}} ins(%[[G]], %{{.*}} : tensor<1x2x3x3xf32>, tensor<2xf32>)
// CHECK: arith.maximumf
func.func @pointwise(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 1, 1]> : tensor<3xi16>
  %o = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %y = "sparsile.conv"(%x, %v, %c, %o, %b) {format = "csr", pattern = "csr", params = {kc = 2 : i64, col_bits = 16 : i64}, tiles = {vectors = 1 : i64, rows = 2 : i64}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "pw", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 0>} : (tensor<1x2x3x3xf32>, tensor<3xf32>, tensor<3xi16>, tensor<3xi32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// Strides 2: the padded input [1, 1, 5, 5] is rounded up to 6x6 and split into its four stride
// phases, each a 3x3 plane, so every tap is a constant shift again: column (i, j) reads plane
// (i mod 2, j mod 2) shifted by (i div 2) * 3 + j div 2. The 2 computed positions per output row
// (the plane's width) are cut to the output's 2.
// CHECK-LABEL: func.func @strided
// CHECK-DAG: %[[TAPS:.*]] = arith.constant {{.*}}dense<[0, 9, 1, 18, 27, 19, 3, 12, 4]> : tensor<9xi32>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0, 0] [1, 1, 5, 5] [1, 1, 1, 1] : tensor<1x1x5x5xf32> into tensor<1x1x6x6xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4, 5]] output_shape [1, 1, 3, 2, 3, 2]
// CHECK: linalg.transpose {{.*}} permutation = [0, 1, 3, 5, 2, 4]
// CHECK: %[[Y:.*]] = call @sparsile_dispatch_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[TAPS]]) : (tensor<1x{{[0-9]+}}xf32>, {{.*}}) -> tensor<1x1x16xf32>
// CHECK: tensor.extract_slice %[[Y]][0, 0, 0] [1, 1, 6] [1, 1, 1]
// CHECK: tensor.expand_shape %{{.*}} output_shape [1, 1, 2, 3]
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, 1, 2, 2] [1, 1, 1, 1] : tensor<1x1x2x3xf32> to tensor<1x1x2x2xf32>
func.func @strided(%x: tensor<1x1x5x5xf32>) -> tensor<1x1x2x2xf32> {
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 8]> : tensor<2xi16>
  %o = arith.constant dense<[0, 2]> : tensor<2xi32>
  %y = "sparsile.conv"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 9 : i64, col_bits = 16 : i64}, tiles = {vectors = 1 : i64, rows = 1 : i64}, out_features = 1 : i64, in_features = 9 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c", window = [3, 3], strides = [2, 2], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x1x5x5xf32>, tensor<2xf32>, tensor<2xi16>, tensor<2xi32>) -> tensor<1x1x2x2xf32>
  return %y : tensor<1x1x2x2xf32>
}

// -----

// Dense storage is IREE's own convolution of the [F, C*KH*KW] values reshaped to the filter.
// CHECK-LABEL: func.func @dense
// CHECK: %[[F:.*]] = arith.constant {{.*}}dense<{{.*}}> : tensor<1x1x3x3xf32>
// CHECK: linalg.conv_2d_nchw_fchw {dilations = dense<2> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%{{.*}}, %[[F]] : tensor<1x1x5x5xf32>, tensor<1x1x3x3xf32>)
func.func @dense(%x: tensor<1x1x5x5xf32>) -> tensor<1x1x1x1xf32> {
  %v = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0]]> : tensor<1x9xf32>
  %y = "sparsile.conv"(%x, %v) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 1 : i64, in_features = 9 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c", window = [3, 3], strides = [1, 1], dilations = [2, 2], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x1x5x5xf32>, tensor<1x9xf32>) -> tensor<1x1x1x1xf32>
  return %y : tensor<1x1x1x1xf32>
}

// -----

// Kept filters: filter 1 of 2 is computed as a dense convolution, then scattered into the full
// output (row_slots -1: zero before the epilogue), where the bias and the residual are added.
// CHECK-LABEL: func.func @kept_filters
// CHECK: %[[Z:.*]] = linalg.conv_2d_nchw_fchw {{.*}} -> tensor<1x1x1x1xf32>
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<2xi32>) outs(%{{.*}} : tensor<1x2x1x1xf32>)
// CHECK: tensor.extract %[[Z]]
// CHECK: arith.select
// CHECK: linalg.generic {{.*}} ins(%[[Y]], %{{.*}}, %{{.*}} : tensor<1x2x1x1xf32>, tensor<2xf32>, tensor<1x2x1x1xf32>)
func.func @kept_filters(%x: tensor<1x1x3x3xf32>, %r: tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]]> : tensor<1x9xf32>
  %slots = arith.constant dense<[-1, 0]> : tensor<2xi32>
  %cols = arith.constant dense<[0, 1, 2, 3, 4, 5, 6, 7, 8]> : tensor<9xi32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %y = "sparsile.conv"(%x, %v, %slots, %cols, %b, %r) {format = "channels", pattern = "channels", params = {channel_group = 9 : i64}, tiles = {}, out_features = 2 : i64, in_features = 9 : i64, epilogue = "none", scale = 1.0 : f32, layer = "c", window = [3, 3], strides = [1, 1], dilations = [1, 1], groups = 1 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 1>} : (tensor<1x1x3x3xf32>, tensor<1x9xf32>, tensor<2xi32>, tensor<9xi32>, tensor<2xf32>, tensor<1x2x1x1xf32>) -> tensor<1x2x1x1xf32>
  return %y : tensor<1x2x1x1xf32>
}

// -----

// Two groups as CSR: each filter reads the planes of its own group, which start
// (f div 1) * 2 channels * 9 floats into the row; the taps cover one group's 2 channels.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK: scf.for %[[R:.*]] = {{.*}} {
// CHECK: %[[G:.*]] = arith.muli %[[R]], %c18 : index
// CHECK: scf.for
// CHECK: vector.fma
// CHECK-LABEL: func.func @grouped_sparse
// CHECK: arith.constant {{.*}}dense<[0, 9]> : tensor<2xi32>
func.func @grouped_sparse(%x: tensor<1x4x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %v = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi16>
  %o = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  %y = "sparsile.conv"(%x, %v, %c, %o) {format = "csr", pattern = "csr", params = {kc = 2 : i64, col_bits = 16 : i64}, tiles = {vectors = 1 : i64, rows = 2 : i64}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "g", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4x3x3xf32>, tensor<2xf32>, tensor<2xi16>, tensor<3xi32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}

// -----

// Dense storage of a grouped convolution: IREE's grouped convolution over the channels split by
// reshapes; a depthwise one (a channel per group and filter) is IREE's depthwise convolution.
// CHECK-LABEL: func.func @grouped_dense
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 3, 3]
// CHECK: %[[YG:.*]] = linalg.conv_2d_ngchw_gfchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x2x2x3x3xf32>, tensor<2x1x2x1x1xf32>)
// CHECK: tensor.collapse_shape %[[YG]] {{\[}}[0], [1, 2], [3], [4]] : tensor<1x2x1x3x3xf32> into tensor<1x2x3x3xf32>
// CHECK-LABEL: func.func @depthwise_dense
// CHECK: linalg.depthwise_conv_2d_nchw_chw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x2x3x3xf32>, tensor<2x3x3xf32>)
func.func @grouped_dense(%x: tensor<1x4x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %v = arith.constant dense<[[1.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %y = "sparsile.conv"(%x, %v) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "g", window = [1, 1], strides = [1, 1], dilations = [1, 1], groups = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x4x3x3xf32>, tensor<2x2xf32>) -> tensor<1x2x3x3xf32>
  return %y : tensor<1x2x3x3xf32>
}
func.func @depthwise_dense(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x1x1xf32> {
  %v = arith.constant dense<[[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0], [0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0]]> : tensor<2x9xf32>
  %y = "sparsile.conv"(%x, %v) {format = "dense", pattern = "csr", params = {}, tiles = {}, out_features = 2 : i64, in_features = 9 : i64, epilogue = "none", scale = 1.0 : f32, layer = "dw", window = [3, 3], strides = [1, 1], dilations = [1, 1], groups = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x2x3x3xf32>, tensor<2x9xf32>) -> tensor<1x2x1x1xf32>
  return %y : tensor<1x2x1x1xf32>
}
