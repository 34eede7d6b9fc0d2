// RUN: sparsile opt -p schedule --split-input-file %s | filecheck %s

// 1 nonzero of 12 at one row: CSR is predicted faster than dense and kept, with the
// predicted times recorded.
// CHECK-LABEL: func.func @kept
// CHECK: "sparsile.csr_matmul"{{.*}}sparsile.sparsity = {dense_predicted_us = {{[0-9.e+-]+}} : f64, predicted_us = {{[0-9.e+-]+}} : f64
func.func @kept(%x: tensor<1x4xf32>) -> tensor<1x3xf32> {
  %v = arith.constant dense<[1.0]> : tensor<1xf32>
  %c = arith.constant dense<[3]> : tensor<1xi32>
  %o = arith.constant dense<[0, 1, 1, 1]> : tensor<4xi32>
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>, sparsile.sparsity = {stored_values = 1 : i64}} : (tensor<1x4xf32>, tensor<1xf32>, tensor<1xi32>, tensor<4xi32>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// 10 of 12 stored at 64 rows: CSR loses to dense, so the kernel becomes a dense one
// (a channel_matmul keeping every row and column) and the reason is recorded.
// CHECK-LABEL: func.func @dense_fallback
// CHECK-NOT: sparsile.csr_matmul
// CHECK: "sparsile.channel_matmul"{{.*}}epilogue = "relu"{{.*}}fallback = "predicted {{.*}} us as csr vs {{.*}} us dense at 64 rows", format = "dense"
func.func @dense_fallback(%x: tensor<64x4xf32>) -> tensor<64x3xf32> {
  %v = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]> : tensor<10xf32>
  %c = arith.constant dense<[0, 1, 2, 3, 0, 1, 2, 0, 1, 3]> : tensor<10xi32>
  %o = arith.constant dense<[0, 4, 7, 10]> : tensor<4xi32>
  %y = "sparsile.csr_matmul"(%x, %v, %c, %o) {out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>, sparsile.sparsity = {stored_values = 10 : i64}} : (tensor<64x4xf32>, tensor<10xf32>, tensor<10xi32>, tensor<4xi32>) -> tensor<64x3xf32>
  return %y : tensor<64x3xf32>
}
