"""Weights in any layout become sparse kernels and compute what torch eager (or numpy) does.

The reduction dimension comes from the consumer's indexing maps: ``[in, out]``
weights, transposed and broadcast weights, ``batch_matmul`` and ``linalg.generic``
contractions all store the weight as ``[out, in]`` and feed the kernel ``[rows, in]``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsile

OUT, IN = 32, 64


def two_four(rng: np.random.Generator, out: int, inp: int) -> np.ndarray:
    """A random ``[out, in]`` weight with two nonzeros in every four inputs."""
    weight = rng.standard_normal((out, inp)).astype(np.float32)
    groups = weight.reshape(out, inp // 4, 4)
    smallest = np.argsort(np.abs(groups), axis=-1)[..., :2]
    np.put_along_axis(groups, smallest, 0.0, axis=-1)
    return groups.reshape(out, inp)


class Layout(torch.nn.Module):
    """One contraction with a 2:4 weight, written the way ``form`` says."""

    def __init__(self, form: str):
        super().__init__()
        self.form = form
        weight = torch.from_numpy(two_four(np.random.default_rng(0), OUT, IN))
        in_out = form in ("in_out", "bmm_expand", "einsum_kn")
        self.w = torch.nn.Parameter(weight.T.contiguous() if in_out else weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.form == "in_out":  # Hugging Face Conv1D: x @ W with W [in, out]
            return x @ self.w
        if self.form == "bmm_expand":
            return torch.bmm(x, self.w.expand(x.shape[0], IN, OUT))
        if self.form == "einsum_kn":
            return torch.einsum("bmk,kn->bmn", x, self.w)
        if self.form == "einsum_nk":
            return torch.einsum("bmk,nk->bmn", x, self.w)
        return self.w @ x.transpose(1, 2)  # weight_first: [batch, out, rows]


@pytest.mark.parametrize("form", ["in_out", "bmm_expand", "einsum_kn", "einsum_nk", "weight_first"])
@pytest.mark.parametrize("rows", [1, 8])
def test_torch_layouts(form, rows):
    torch.manual_seed(1)
    model = Layout(form).eval()
    x = torch.randn(2 if rows > 1 else 1, rows, IN)
    compiled = sparsile.compile(model, (x,), target="cpu", sparsity={"w": "2:4"})
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(compiled(x), expected, rtol=1e-4, atol=1e-5)
    row = compiled.report["w"]
    assert (row.detected, row.shape) == ("2:4", (OUT, IN))
    assert row.format != "dense", row.fallback


def _literal(array: np.ndarray) -> str:
    rows = ", ".join("[" + ", ".join(f"{v:.8e}" for v in r) + "]" for r in array)
    return f"dense<[{rows}]>"


def test_mlir_contractions_with_indexing_maps():
    """linalg.matmul reading B as [N, K] and a generic whose result is [batch, out, rows]."""
    rng = np.random.default_rng(2)
    w1, w2 = two_four(rng, OUT, IN), two_four(rng, IN, OUT)
    text = f"""
func.func @main(%x: tensor<2x4x{IN}xf32>) -> tensor<2x{IN}x4xf32> {{
  %w1 = arith.constant {{sparsile.name = "w1"}} {_literal(w1)} : tensor<{OUT}x{IN}xf32>
  %w2 = arith.constant {{sparsile.name = "w2"}} {_literal(w2)} : tensor<{IN}x{OUT}xf32>
  %zero = arith.constant 0.0 : f32
  %flat = tensor.collapse_shape %x [[0, 1], [2]] : tensor<2x4x{IN}xf32> into tensor<8x{IN}xf32>
  %e1 = tensor.empty() : tensor<8x{OUT}xf32>
  %a1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8x{OUT}xf32>) -> tensor<8x{OUT}xf32>
  %h = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
    ins(%flat, %w1 : tensor<8x{IN}xf32>, tensor<{OUT}x{IN}xf32>) outs(%a1 : tensor<8x{OUT}xf32>) -> tensor<8x{OUT}xf32>
  %h3 = tensor.expand_shape %h [[0, 1], [2]] output_shape [2, 4, {OUT}] : tensor<8x{OUT}xf32> into tensor<2x4x{OUT}xf32>
  %e2 = tensor.empty() : tensor<2x{IN}x4xf32>
  %a2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x{IN}x4xf32>) -> tensor<2x{IN}x4xf32>
  %y = linalg.generic {{indexing_maps = [affine_map<(b, m, n, k) -> (b, m, k)>, affine_map<(b, m, n, k) -> (n, k)>, affine_map<(b, m, n, k) -> (b, n, m)>],
                       iterator_types = ["parallel", "parallel", "parallel", "reduction"]}}
    ins(%h3, %w2 : tensor<2x4x{OUT}xf32>, tensor<{IN}x{OUT}xf32>) outs(%a2 : tensor<2x{IN}x4xf32>) {{
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }} -> tensor<2x{IN}x4xf32>
  return %y : tensor<2x{IN}x4xf32>
}}
"""
    compiled = sparsile.compile(text, target="cpu", sparsity={"w1": "2:4", "w2": "2:4"})
    x = np.random.default_rng(3).standard_normal((2, 4, IN)).astype(np.float32)
    expected = ((x @ w1.T) @ w2.T).transpose(0, 2, 1)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-4, atol=1e-4)
    for name in ("w1", "w2"):
        row = compiled.report[name]
        assert row.detected == "2:4" and row.format != "dense", (name, row.format, row.fallback)
