// RUN: sparsile opt -p lower-to-iree,canonicalize,check-iree-input --split-input-file %s | filecheck %s

// Bitmask tiles at one row: x is zero-padded to the storage's 64 columns and goes, with the
// storage as it is (mask words, packed values, row offsets), into a row kernel that expands
// each tile of 16 with vector.expandload, counts the pointer on with popcounts, and sums a
// row once (vector.reduction) into y [1, 3] in the model's layout; bias and ReLU follow.
// CHECK-LABEL: func.func private @sparsile_dispatch_0
// CHECK-SAME: attributes {sparsile.kernel = @sparsile_kernel_0}
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: memref<1x64xf32>, %{{.*}}: memref<3x1xi64>, %{{.*}}: memref<3xf32>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<1x3xf32>)
// CHECK-SAME: attributes {sparsile.workgroups = array<i64: 1, 1, 1>}
// CHECK: math.ctpop
// CHECK: vector.bitcast %{{.*}} : vector<1xi16> to vector<16xi1>
// CHECK: vector.expandload %{{.*}} : memref<3xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: vector.fma
// CHECK: vector.reduction <add>
// CHECK-NOT: vector.gather
// CHECK-LABEL: func.func @bitmask_f32
// CHECK-DAG: %[[MASKS:.*]] = arith.constant {{.*}}dense<{{\[}}[5], [0], [2]]> : tensor<3x1xi64>
// CHECK-DAG: %[[VALS:.*]] = arith.constant {{.*}}dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[OFFS:.*]] = arith.constant {{.*}}dense<[0, 2, 2, 3]> : tensor<4xi32>
// CHECK: %[[XP:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [1, 4] [1, 1] : tensor<1x4xf32> into tensor<1x64xf32>
// CHECK: %[[Y:.*]] = call @sparsile_dispatch_0(%[[XP]], %[[MASKS]], %[[VALS]], %[[OFFS]])
// CHECK: linalg.generic {{.*}} ins(%[[Y]], %{{.*}} : tensor<1x3xf32>, tensor<3xf32>)
// CHECK: arith.maximumf
func.func @bitmask_f32(%x: tensor<1x4xf32>, %b: tensor<3xf32>) -> tensor<1x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %m, %v, %o, %b) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 0>} : (tensor<1x4xf32>, tensor<3x1xi64>, tensor<3xf32>, tensor<4xi32>, tensor<3xf32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// The permute expand (AVX2 without VBMI2): the storage ends with 8 spare values, and the
// kernel takes the 256 x 16 lanes table as one more operand; each tile's halves are loaded
// eight values at a time where their nonzeros start (the second half after the first's
// popcount), moved into their lanes by vpermps with the indices of the mask's table row and
// the unset lanes zeroed by and-ing with the keep masks in the same row: no expandload.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: (%{{.*}}: index, %{{.*}}: memref<1x64xf32>, %{{.*}}: memref<3x1xi64>, %{{.*}}: memref<11xf32>, %{{.*}}: memref<4xi32>, %[[TABLE:.*]]: memref<256x16xi32>, %{{.*}}: memref<1x3xf32>)
// CHECK-NOT: vector.expandload
// CHECK: %[[INDICES:.*]] = vector.load %[[TABLE]][%[[ROW:.*]], %{{.*}}] : memref<256x16xi32>, vector<8xi32>
// CHECK: %[[KEEP:.*]] = vector.load %[[TABLE]][%[[ROW]], %{{.*}}] : memref<256x16xi32>, vector<8xi32>
// CHECK: vector.load %{{.*}}[%{{.*}}] : memref<11xf32>, vector<8xf32>
// CHECK: %[[MOVED:.*]] = llvm.call_intrinsic "llvm.x86.avx2.permps"(%{{.*}}, %[[INDICES]]) : (vector<8xf32>, vector<8xi32>) -> vector<8xf32>
// CHECK: %[[BITS:.*]] = vector.bitcast %[[MOVED]] : vector<8xf32> to vector<8xi32>
// CHECK: arith.andi %[[BITS]], %[[KEEP]] : vector<8xi32>
// CHECK-NOT: arith.select
// CHECK: math.ctpop %{{.*}} : i32
// CHECK: llvm.call_intrinsic "llvm.x86.avx2.permps"
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] : vector<8xf32>, vector<8xf32>
// CHECK: vector.fma
// CHECK-NOT: vector.expandload
// CHECK-LABEL: func.func @bitmask_permute
// The table's first rows: mask 0 (indices 0, nothing kept), then mask 1 (lane 0 takes value 0
// and is the one kept).
// CHECK-DAG: %[[LANES:.*]] = arith.constant dense<"0x000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000FFFFFFFF00000000{{.*}}"> : tensor<256x16xi32>
// CHECK: call @sparsile_dispatch_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[LANES]])
func.func @bitmask_permute(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]> : tensor<11xf32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %m, %v, %o) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64, expand = "permute"}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<3x1xi64>, tensor<11xf32>, tensor<4xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// float16 values and two rows: the kernel moves the values as 16-bit patterns (an expandload
// of f16 vectors is scalarised by LLVM on x86) and widens each tile after expanding it; one
// accumulator chain per row per tile pair.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: memref<2x64xf32>, %{{.*}}: memref<3x1xi64>, %{{.*}}: memref<3xi16>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<2x3xf32>
// CHECK: vector.expandload %{{.*}} : memref<3xi16>, vector<16xi1>, vector<16xi16> into vector<16xi16>
// CHECK: arith.bitcast %{{.*}} : vector<16xi16> to vector<16xf16>
// CHECK: arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// CHECK-LABEL: func.func @bitmask_f16
// CHECK: arith.constant {{.*}}dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf16>
// CHECK: call @sparsile_dispatch_0
func.func @bitmask_f16(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf16>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %m, %v, %o) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x4xf32>, tensor<3x1xi64>, tensor<3xf16>, tensor<4xi32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// int8 bitmask: the integers are expanded as bytes and converted; the row scales are the
// epilogue's (one multiply per output, not per weight).
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: memref<3xi8>
// CHECK: vector.expandload %{{.*}} : memref<3xi8>, vector<16xi1>, vector<16xi8> into vector<16xi8>
// CHECK: arith.sitofp %{{.*}} : vector<16xi8> to vector<16xf32>
// CHECK-LABEL: func.func @bitmask_int8
// CHECK-DAG: %[[SCALES:.*]] = arith.constant {{.*}}dense<[1.000000e-01, 0.000000e+00, 2.000000e-01]> : tensor<3xf32>
// CHECK: %[[Y:.*]] = call @sparsile_dispatch_0
// CHECK: linalg.generic {{.*}} ins(%[[Y]], %[[SCALES]] : tensor<1x3xf32>, tensor<3xf32>)
// CHECK: arith.mulf
func.func @bitmask_int8(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[10, 127, 127]> : tensor<3xi8>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %s = arith.constant dense<[0.1, 0.0, 0.2]> : tensor<3xf32>
  %y = "sparsile.matmul"(%x, %m, %v, %o, %s) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64, quant = "int8"}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0>} : (tensor<1x4xf32>, tensor<3x1xi64>, tensor<3xi8>, tensor<4xi32>, tensor<3xf32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// int4 bitmask: each tile's nibbles start on a byte (offsets count bytes); eight bytes are
// unpacked (shifts and an interleave) into a scratch buffer the tile is expanded from, then
// multiplied by the tile's group scale inside the kernel.
// CHECK-LABEL: func.func private @sparsile_kernel_0
// CHECK-SAME: memref<10xi8>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<3x1xf32>
// CHECK: memref.alloca() : memref<16xi8>
// CHECK: vector.interleave %{{.*}}, %{{.*}} : vector<8xi8> -> vector<16xi8>
// CHECK: vector.store %{{.*}} : memref<16xi8>, vector<16xi8>
// CHECK: vector.expandload %{{.*}} : memref<16xi8>, vector<16xi1>, vector<16xi8> into vector<16xi8>
// CHECK: arith.mulf
// CHECK-LABEL: func.func @bitmask_int4
// CHECK: call @sparsile_dispatch_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (tensor<1x64xf32>, tensor<3x1xi64>, tensor<10xi8>, tensor<4xi32>, tensor<3x1xf32>)
func.func @bitmask_int4(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %m = arith.constant dense<[[5], [0], [2]]> : tensor<3x1xi64>
  %v = arith.constant dense<[33, 7, 0, 0, 0, 0, 0, 0, 0, 0]> : tensor<10xi8>
  %o = arith.constant dense<[0, 1, 1, 2]> : tensor<4xi32>
  %s = arith.constant dense<[[0.1], [0.0], [0.2]]> : tensor<3x1xf32>
  %y = "sparsile.matmul"(%x, %m, %v, %o, %s) {format = "bitmask", pattern = "csr", params = {kp = 64 : i64, quant = "int4-g128"}, tiles = {rows = 16 : i64}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0>} : (tensor<1x4xf32>, tensor<3x1xi64>, tensor<10xi8>, tensor<4xi32>, tensor<3x1xf32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}
