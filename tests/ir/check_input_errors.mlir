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
