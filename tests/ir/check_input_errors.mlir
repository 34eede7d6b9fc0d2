// RUN: sparsile opt -p check-input --split-input-file --verify-diagnostics %s

// expected-error @+2 {{argument 0 of @main has type f32; entry functions take and return ranked tensors}}
// expected-error @+1 {{result 0 of @main has type f32}}
func.func @main(%a: f32) -> f32 {
  return %a : f32
}

// -----

// expected-error @+1 {{argument 0 of @main has type tensor<*xf32>}}
func.func @main(%a: tensor<*xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<1.0> : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

// expected-error @+1 {{argument 0 of @main has element type complex<f32>}}
func.func @main(%a: tensor<4xcomplex<f32>>) -> tensor<4xf32> {
  %c = arith.constant dense<1.0> : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

func.func @main(%a: !torch.vtensor<[4],f32>) -> !torch.vtensor<[4],f32> {
  // expected-error @+1 {{op 'torch.aten.relu' was not lowered to linalg}}
  %0 = torch.aten.relu %a : !torch.vtensor<[4],f32> -> !torch.vtensor<[4],f32>
  return %0 : !torch.vtensor<[4],f32>
}

// -----

// expected-error @+1 {{several public functions (a, b); name the entry one with entry=NAME}}
module {
  func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
  func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// An op of a dialect no target compiles is named here, before any backend sees it.
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{op 'gpu.thread_id' is from the 'gpu' dialect, which no sparsile target compiles at stage 'linalg'; that stage's IR may use: affine, arith, builtin, cf, complex, func, linalg, math, scf, sparse_tensor, tensor}}
  %t = gpu.thread_id x
  %i = arith.index_cast %t : index to i32
  %f = arith.sitofp %i : i32 to f32
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.fill ins(%f : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
