// RUN: sparsile opt -p lower-to-native,canonicalize --split-input-file %s | filecheck %s

// A CSR kernel becomes a sparse weight assembled from its storage operands as they are
// (32-bit positions and coordinates) and a generic the sparsifier iterates in the weight's
// level order.
// CHECK: #[[CSR:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32 }>
// CHECK-LABEL: func.func @csr
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-DAG: %[[V:.*]] = arith.constant {{.*}}dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-DAG: %[[C:.*]] = arith.constant {{.*}}dense<[0, 3, 1]> : tensor<3xi32>
// CHECK-DAG: %[[O:.*]] = arith.constant {{.*}}dense<[0, 2, 2, 3]> : tensor<4xi32>
// CHECK: %[[W:.*]] = sparse_tensor.assemble (%[[O]], %[[C]]), %[[V]] : (tensor<4xi32>, tensor<3xi32>), tensor<3xf32> to tensor<3x4xf32, #[[CSR]]>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[W]] : tensor<2x4xf32>, tensor<3x4xf32, #[[CSR]]>)
// CHECK-NOT: sparsile.
func.func @csr(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "csr", pattern = "2:4", params = {kc = 4 : i64, col_bits = 32 : i64}, tiles = {}, out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// BSR storage: block values flattened, block-row offsets and block columns as the levels.
// CHECK: #[[BSR:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 floordiv 2 : dense, d1 floordiv 2 : compressed, d0 mod 2 : dense, d1 mod 2 : dense), posWidth = 32, crdWidth = 32 }>
// CHECK-LABEL: func.func @bsr
// CHECK: sparse_tensor.assemble {{.*}} : (tensor<3xi32>, tensor<2xi32>), tensor<8xf32> to tensor<4x4xf32, #[[BSR]]>
func.func @bsr(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %v = arith.constant dense<[[[1.0, 2.0], [3.0, 4.0]], [[7.0, 8.0], [5.0, 6.0]]]> : tensor<2x2x2xf32>
  %c = arith.constant dense<[0, 1]> : tensor<2xi32>
  %o = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  %y = "sparsile.matmul"(%x, %v, %c, %o) {format = "bsr", pattern = "bsr2", params = {block = 2 : i64}, tiles = {}, out_features = 4 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0>} : (tensor<1x4xf32>, tensor<2x2x2xf32>, tensor<2xi32>, tensor<3xi32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}

// -----

// The 2:4 planes have no native lowering; schedule{target=native} never chooses them.
// CHECK-LABEL: func.func @dense
// CHECK: linalg.matmul
func.func @dense(%x: tensor<1x2xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "dense", params = {}, tiles = {}, out_features = 2 : i64, in_features = 2 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
