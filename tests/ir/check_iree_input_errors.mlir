// RUN: sparsile opt -p check-iree-input --split-input-file --verify-diagnostics %s

#CSR = #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>

func.func @sparse_weight(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{op 'arith.constant' uses the sparse type tensor<4x3xf32, #sparse_tensor.encoding<{ map = (d0, d1) -> (d0 : dense, d1 : compressed) }>>: IREE cannot compile sparse encodings}}
  %w = arith.constant dense<1.0> : tensor<4x3xf32, #CSR>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  // expected-error @+1 {{op 'linalg.matmul' uses the sparse type}}
  %r = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32, #CSR>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}

// -----

#CSR = #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>

// expected-error @+1 {{op 'func.func' uses the sparse type}}
func.func @sparse_arg(%x: tensor<4x3xf32, #CSR>) -> tensor<4x3xf32, #CSR> {
  // expected-error @+1 {{op 'func.return' uses the sparse type}}
  return %x : tensor<4x3xf32, #CSR>
}
