// RUN: sparsile opt -p lower-to-native,canonicalize --split-input-file %s | filecheck %s

// A CSR kernel becomes an assembled sparse weight (32-bit indices, straight from the
// packing) and a generic the sparsifier iterates in the weight's level order.
// CHECK: #[[CSR:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32 }>
// CHECK-LABEL: func.func @csr
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[W:.*]] = sparse_tensor.assemble (%{{.*}}, %{{.*}}), %{{.*}} : (tensor<4xi32>, tensor<3xi32>), tensor<3xf32> to tensor<3x4xf32, #[[CSR]]>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[W]] : tensor<2x4xf32>, tensor<3x4xf32, #[[CSR]]>)
// CHECK-NOT: sparsile.
func.func @csr(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %c = arith.constant dense<[0, 3, 1]> : tensor<3xi32>
  %o = arith.constant dense<[0, 2, 2, 3]> : tensor<4xi32>
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<2x4xf32>, tensor<3xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// 2:4 weights are held as CSR on this path (structured levels do not lower on the CPU).
// CHECK: #[[CSR:.*]] = #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32 }>
// CHECK-LABEL: func.func @nm
// CHECK: sparse_tensor.assemble {{.*}} to tensor<2x8xf32, #[[CSR]]>
func.func @nm(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %v = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %p = arith.constant dense<[[0, 1, 1, 3], [2, 3, 0, 2]]> : tensor<2x4xi8>
  %y = "sparsile.nm_matmul"(%x, %v, %p) {out_features = 2 : i64, in_features = 8 : i64, n = 2 : i64, m = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<1x8xf32>, tensor<2x4xf32>, tensor<2x4xi8>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
