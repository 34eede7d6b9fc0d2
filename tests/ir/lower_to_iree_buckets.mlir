// RUN: sparsile opt -p schedule,lower-to-iree,canonicalize %s | filecheck %s

// Rows known only at run time (1..33, the argument's sparsile.bounds): schedule packs one
// storage and compiles the kernel for the row counts 1, 2, 4, ..., 32 and 33 (its buckets).
// The lowering asserts the call's rows fit, picks the smallest bucket holding them with
// nested scf.if, pads the input to it with zero rows (the remainder path), runs that
// bucket's static dispatch, and slices the real rows off the widest result; the epilogue
// (bias, ReLU) runs once, on the dynamic rows.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32> {sparsile.bounds = {{\[}}[1, 33], [4, 4]]}, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[ROWS:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x4xf32>
// CHECK: %[[FITS:.*]] = arith.cmpi ule, %[[ROWS]], %{{.*}} : index
// CHECK: cf.assert %[[FITS]], "layer 'fc' was compiled for at most 33 rows"
// CHECK: %[[ONE:.*]] = arith.cmpi ule, %[[ROWS]], %{{.*}} : index
// CHECK: %[[Y:.*]] = scf.if %[[ONE]] -> (tensor<33x3xf32>) {
// CHECK: tensor.insert_slice %[[X]] into %{{.*}}[0, 0] {{\[}}%[[ROWS]], 4] [1, 1] : tensor<?x4xf32> into tensor<1x4xf32>
// CHECK: call @sparsile_dispatch_{{[0-9]+}}
// CHECK: scf.yield %{{.*}} : tensor<33x3xf32>
// CHECK: } else {
// CHECK: tensor.insert_slice %[[X]] into %{{.*}}[0, 0] {{\[}}%[[ROWS]], 4] [1, 1] : tensor<?x4xf32> into tensor<2x4xf32>
// CHECK: tensor.insert_slice %[[X]] into %{{.*}}[0, 0] {{\[}}%[[ROWS]], 4] [1, 1] : tensor<?x4xf32> into tensor<32x4xf32>
// CHECK: tensor.insert_slice %[[X]] into %{{.*}}[0, 0] {{\[}}%[[ROWS]], 4] [1, 1] : tensor<?x4xf32> into tensor<33x4xf32>
// CHECK: %[[KEPT:.*]] = tensor.extract_slice %[[Y]][0, 0] {{\[}}%[[ROWS]], 3] [1, 1] : tensor<33x3xf32> to tensor<?x3xf32>
// CHECK: linalg.generic {{.*}} ins(%[[KEPT]], %[[B]] : tensor<?x3xf32>, tensor<3xf32>)
// CHECK: arith.maximumf
func.func @dynamic_rows(%x: tensor<?x4xf32> {sparsile.bounds = [[1, 33], [4, 4]]}, %b: tensor<3xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 5.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %y = "sparsile.matmul"(%x, %w, %b) {format = "dense", pattern = "csr", out_features = 3 : i64, in_features = 4 : i64, epilogue = "relu", scale = 1.0 : f32, layer = "fc", params = {}, tiles = {}, sparsile.sparsity = {source = "override", layer = "fc"}, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 1, 0>} : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
