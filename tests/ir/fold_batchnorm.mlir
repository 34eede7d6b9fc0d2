// RUN: sparsile opt -p fold-batchnorm --split-input-file %s | filecheck %s

// An eval-mode BatchNorm2d as torch-mlir exports it: minus the running mean, times
// 1 / sqrt(var + eps) (computed from constants, with its cf.assert), times the weight, plus the
// bias. scale = [0.5 * 4, 0.25 * 2] = [2, 0.5], shift = -mean * scale + beta = [-1, -2]: the
// filter's zeros stay zero, its name and pruning intent stay, and nothing of the norm is left.
// CHECK-LABEL: func.func @folded
// CHECK-DAG: %[[W:.*]] = arith.constant {sparsile.intent = "pruned", sparsile.name = "conv.weight"} dense<{{\[}}{{\[}}{{\[}}[4.000000e+00]], {{\[}}[0.000000e+00]]], {{\[}}{{\[}}[0.000000e+00]], {{\[}}[2.000000e+00]]]]> : tensor<2x2x1x1xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant {{.*}}dense<[-1.000000e+00, -2.000000e+00]> : tensor<2xf32>
// CHECK: %[[INIT:.*]] = linalg.broadcast ins(%[[B]] : tensor<2xf32>) outs(%{{.*}} : tensor<1x2x4x4xf32>) dimensions = [0, 2, 3]
// CHECK: %[[Y:.*]] = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%{{.*}}, %[[W]] : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%[[INIT]] : tensor<1x2x4x4xf32>)
// CHECK-NOT: linalg.generic
// CHECK-NOT: cf.assert
// CHECK: return %[[Y]]
#channel = affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#id1 = affine_map<(d0) -> (d0)>
func.func @folded(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant {sparsile.name = "conv.weight", sparsile.intent = "pruned"} dense<[[[[2.0]], [[0.0]]], [[[0.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %mean = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %var = arith.constant dense<[3.0, 15.0]> : tensor<2xf32>
  %gamma = arith.constant dense<[4.0, 2.0]> : tensor<2xf32>
  %beta = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %eps = arith.constant 1.0 : f64
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %conv = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%acc : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %e1 = tensor.empty() : tensor<2xf32>
  %plus = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]} ins(%var : tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %t = arith.truncf %eps : f64 to f32
    %s = arith.addf %in, %t : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  %root = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]} ins(%plus : tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %s = math.sqrt %in : f32
    linalg.yield %s : f32
  } -> tensor<2xf32>
  %invstd = linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]} ins(%root : tensor<2xf32>) outs(%e1 : tensor<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %nz = arith.cmpf one, %in, %zero : f32
    cf.assert %nz, "unimplemented: tensor with zero element"
    %r = arith.divf %one, %in : f32
    linalg.yield %r : f32
  } -> tensor<2xf32>
  %m3 = tensor.expand_shape %mean [[0, 1, 2]] output_shape [2, 1, 1] : tensor<2xf32> into tensor<2x1x1xf32>
  %i3 = tensor.expand_shape %invstd [[0, 1, 2]] output_shape [2, 1, 1] : tensor<2xf32> into tensor<2x1x1xf32>
  %g3 = tensor.expand_shape %gamma [[0, 1, 2]] output_shape [2, 1, 1] : tensor<2xf32> into tensor<2x1x1xf32>
  %b3 = tensor.expand_shape %beta [[0, 1, 2]] output_shape [2, 1, 1] : tensor<2xf32> into tensor<2x1x1xf32>
  %a = linalg.generic {indexing_maps = [#id4, #channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%conv, %m3 : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %p: f32, %out: f32):
    %r = arith.subf %in, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %b = linalg.generic {indexing_maps = [#id4, #channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a, %i3 : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %p: f32, %out: f32):
    %r = arith.mulf %in, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %c = linalg.generic {indexing_maps = [#id4, #channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b, %g3 : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %p: f32, %out: f32):
    %r = arith.mulf %in, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %d = linalg.generic {indexing_maps = [#id4, #channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c, %b3 : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %p: f32, %out: f32):
    %r = arith.addf %in, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  return %d : tensor<1x2x4x4xf32>
}

// -----

// A per-channel value the program does not compute from constants (an argument) is not folded.
// CHECK-LABEL: func.func @runtime_scale
// CHECK: linalg.conv_2d_nchw_fchw
// CHECK: linalg.generic
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>)
// CHECK: arith.mulf
#channel = affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @runtime_scale(%x: tensor<1x2x4x4xf32>, %s: tensor<2x1x1xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant dense<[[[[2.0]], [[0.0]]], [[[0.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %zero = arith.constant 0.0 : f32
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %conv = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%acc : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %b = linalg.generic {indexing_maps = [#id4, #channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%conv, %s : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %p: f32, %out: f32):
    %r = arith.mulf %in, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  return %b : tensor<1x2x4x4xf32>
}

// -----

// A convolution whose result is also read elsewhere keeps its batch norm: folding would change
// what the other reader sees.
// CHECK-LABEL: func.func @shared_result
// CHECK: %[[C:.*]] = linalg.conv_2d_nchw_fchw
// CHECK: linalg.generic {{.*}} ins(%[[C]], %{{.*}} : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>)
#channel = affine_map<(d0, d1, d2, d3) -> (d1, 0, 0)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @shared_result(%x: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %w = arith.constant dense<[[[[2.0]], [[0.0]]], [[[0.0]], [[4.0]]]]> : tensor<2x2x1x1xf32>
  %s = arith.constant dense<[[[2.0]], [[3.0]]]> : tensor<2x1x1xf32>
  %zero = arith.constant 0.0 : f32
  %e4 = tensor.empty() : tensor<1x2x4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e4 : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %conv = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) outs(%acc : tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %b = linalg.generic {indexing_maps = [#id4, #channel, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%conv, %s : tensor<1x2x4x4xf32>, tensor<2x1x1xf32>) outs(%e4 : tensor<1x2x4x4xf32>) {
  ^bb0(%in: f32, %p: f32, %out: f32):
    %r = arith.mulf %in, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  return %b, %conv : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}
