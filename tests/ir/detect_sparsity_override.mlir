// RUN: sparsile opt -p 'detect-sparsity{overrides=fc1@2:4}' --split-input-file --verify-diagnostics %s

// A requested pattern that does not hold is an error naming the layer (here the override fc1@2:4).
func.func @bad_override(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{layer 'fc1.weight': requested 2:4 but row 0, columns 0..3 hold 4 nonzeros (at most 2 allowed)}}
  %w = arith.constant {sparsile.name = "fc1.weight"} dense<[[8.0, -6.0, -6.0, -8.0, 5.0, 7.0, 7.0, -2.0],
    [1.0, -3.0, -3.0, -7.0, 8.0, 1.0, 4.0, -7.0],
    [2.0, -7.0, 1.0, 4.0, -7.0, 3.0, 3.0, 3.0],
    [6.0, 3.0, -8.0, 4.0, -4.0, -5.0, -5.0, 5.0],
    [5.0, 8.0, 7.0, 7.0, 6.0, -5.0, 3.0, 8.0],
    [-4.0, -2.0, 7.0, -2.0, 7.0, -5.0, -1.0, -1.0],
    [-4.0, 1.0, -2.0, -5.0, 8.0, 4.0, -7.0, 8.0],
    [-7.0, 6.0, -4.0, 5.0, 3.0, 4.0, 4.0, -2.0]]> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %wt = linalg.transpose ins(%w : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %acc0 = tensor.empty() : tensor<4x8xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x8xf32>) outs(%acc : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
