// Sampled dense-dense matmul: out = S .* (A @ B), computed only where S has entries.
// Compile with: sparsile compile examples/sparse_programs/sddmm.mlir --target native-cpu -o out/sddmm
#CSR = #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>
#trait = {
  indexing_maps = [
    affine_map<(i, j, k) -> (i, j)>,  // S (sparse sample)
    affine_map<(i, j, k) -> (i, k)>,  // A
    affine_map<(i, j, k) -> (k, j)>,  // B
    affine_map<(i, j, k) -> (i, j)>   // out
  ],
  iterator_types = ["parallel", "parallel", "reduction"]
}
func.func @sddmm(%s: tensor<8x8xf32, #CSR>, %a: tensor<8x5xf32>, %b: tensor<5x8xf32>) -> tensor<8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<8x8xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<8x8xf32>) -> tensor<8x8xf32>
  %out = linalg.generic #trait ins(%s, %a, %b : tensor<8x8xf32, #CSR>, tensor<8x5xf32>, tensor<5x8xf32>) outs(%init : tensor<8x8xf32>) {
  ^bb0(%sv: f32, %av: f32, %bv: f32, %acc: f32):
    %ab = arith.mulf %av, %bv : f32
    %sab = arith.mulf %sv, %ab : f32
    %sum = arith.addf %acc, %sab : f32
    linalg.yield %sum : f32
  } -> tensor<8x8xf32>
  return %out : tensor<8x8xf32>
}
