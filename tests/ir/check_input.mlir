// RUN: sparsile opt -p check-input --split-input-file %s | filecheck %s
// RUN: sparsile opt -p check-input --split-input-file --verify-diagnostics %s

// A linalg-on-tensors module passes through unchanged.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: return %[[R]]
func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %e = tensor.empty() : tensor<2x3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// -----

// Private helpers do not count as entry points.
// CHECK-LABEL: func.func private @helper
// CHECK-LABEL: func.func @entry
func.func private @helper(%x: f32) -> f32 {
  return %x : f32
}
func.func @entry(%x: tensor<4xi64>) -> tensor<4xi64> {
  return %x : tensor<4xi64>
}
