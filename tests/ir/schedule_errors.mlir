// RUN: not sparsile opt -p schedule %s 2>&1 | filecheck %s

// Dynamic rows with no bounds: nothing can be chosen for sizes nobody named.
// CHECK: error: schedule: layer 'fc' sees a dynamic number of rows without bounds; export with dynamic_shapes whose dimensions have a max
func.func @unbounded_rows(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = arith.constant dense<[[0.0, 0.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]> : tensor<3x4xf32>
  %y = "sparsile.matmul"(%x, %w) {format = "dense", pattern = "csr", out_features = 3 : i64, in_features = 4 : i64, epilogue = "none", scale = 1.0 : f32, layer = "fc", params = {}, tiles = {}, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}
