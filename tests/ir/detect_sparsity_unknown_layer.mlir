// RUN: sparsile opt -p 'detect-sparsity{overrides=fc9@csr}' --verify-diagnostics %s

// An override naming no weight is an error that lists the weights there are.
// expected-error @+1 {{sparsity override for 'fc9' names no weight; weights: fc1.weight}}
module {
  func.func @main(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
    %w = arith.constant {sparsile.name = "fc1.weight"} dense<[[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 0.0, 4.0]]> : tensor<2x4xf32>
    %e = tensor.empty() : tensor<4x2xf32>
    %wt = linalg.transpose ins(%w : tensor<2x4xf32>) outs(%e : tensor<4x2xf32>) permutation = [1, 0]
    %zero = arith.constant 0.0 : f32
    %acc0 = tensor.empty() : tensor<2x2xf32>
    %acc = linalg.fill ins(%zero : f32) outs(%acc0 : tensor<2x2xf32>) -> tensor<2x2xf32>
    %y = linalg.matmul ins(%x, %wt : tensor<2x4xf32>, tensor<4x2xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32>
    return %y : tensor<2x2xf32>
  }
}
