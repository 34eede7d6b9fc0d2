"""GELU's tanh form is as accurate as torch's fp32, fused into a kernel or not (against float64)."""

from __future__ import annotations

import math

import numpy as np
import torch

import sparsile


def gelu_tanh_f64(x: np.ndarray) -> np.ndarray:
    """The exact tanh-form GELU in float64, written as x * sigmoid(2u) (no cancellation for x < 0)."""
    x = x.astype(np.float64)
    u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-2.0 * u))


def inputs(rows: int, cols: int) -> torch.Tensor:
    values = np.concatenate([np.linspace(-12, 12, rows * cols // 2), np.linspace(-6, 6, rows * cols - rows * cols // 2)])
    return torch.from_numpy(values.astype(np.float32).reshape(rows, cols))


def max_error(got: torch.Tensor, x: torch.Tensor) -> float:
    return float(np.abs(got.numpy().astype(np.float64) - gelu_tanh_f64(x.numpy())).max())


def test_unfused_gelu_tanh_within_4x_of_torch():
    x = inputs(64, 256)
    model = torch.nn.GELU(approximate="tanh").eval()
    compiled = sparsile.compile(model, (x,), cache=False)
    torch_error = max_error(model(x), x)
    ours = max_error(compiled(x), x)
    assert ours <= 4 * torch_error, f"sparsile {ours:.3g} vs torch {torch_error:.3g} (float64 reference)"
    assert "math.tanh" not in compiled.ir("kernels")


class FusedGelu(torch.nn.Module):
    """An identity Linear (one nonzero per row, so the product is exact) and GELU-tanh: the kernel's epilogue."""

    def __init__(self, width: int):
        super().__init__()
        self.fc = torch.nn.Linear(width, width, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.eye(width))

    def forward(self, x):
        return torch.nn.functional.gelu(self.fc(x), approximate="tanh")


def test_fused_gelu_tanh_within_4x_of_torch():
    x = inputs(64, 256)
    model = FusedGelu(256).eval()
    compiled = sparsile.compile(model, (x,), sparsity={"fc": "csr"}, cache=False)
    assert 'epilogue = "gelu_tanh", format = "csr"' in compiled.ir("kernels")
    with torch.no_grad():
        torch_error = max_error(torch.nn.functional.gelu(x, approximate="tanh"), x)
    ours = max_error(compiled(x), x)
    assert ours <= 4 * torch_error, f"sparsile {ours:.3g} vs torch {torch_error:.3g} (float64 reference)"
