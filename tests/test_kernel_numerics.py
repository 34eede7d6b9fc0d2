"""Every format x epilogue x batch through the fast lowerings, against torch eager (hypothesis)."""

from __future__ import annotations

import numpy as np
import pruning
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sparsile

ACTIVATIONS = {
    "none": lambda t: t,
    "relu": torch.relu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
    "silu": torch.nn.functional.silu,
}
FORMATS = ("csr", "2:4", "bsr8", "bsr16", "channels")


class Layer(torch.nn.Module):
    """act(fc(x) * scale) + residual, the epilogue shapes fuse-epilogues must recognise."""

    def __init__(self, k: int, n: int, bias: bool, activation: str, scale: float, residual: bool):
        super().__init__()
        self.fc = torch.nn.Linear(k, n, bias=bias)
        self.activation, self.scale, self.residual = activation, scale, residual

    def forward(self, x, r):
        y = self.fc(x)
        if self.scale != 1.0:
            y = y * self.scale
        y = ACTIVATIONS[self.activation](y)
        return y + r if self.residual else y - r * 0.0


def prune(layer: torch.nn.Linear, fmt: str, sparsity: float) -> None:
    if fmt == "csr":
        pruning.magnitude(layer, sparsity)
    elif fmt == "2:4":
        pruning.n_of_m(layer, 2, 4)
    elif fmt.startswith("bsr"):
        pruning.blocks(layer, sparsity, int(fmt[3:]))
    else:
        pruning.neurons(layer, sparsity)
        with torch.no_grad():
            layer.weight[:, :: 3] = 0  # and some input channels


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(FORMATS),
    batch=st.sampled_from([1, 7, 32]),
    k_blocks=st.integers(1, 8),
    n_blocks=st.integers(1, 10),
    sparsity=st.floats(0.5, 0.95),
    bias=st.booleans(),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    scale=st.sampled_from([1.0, 0.5]),
    residual=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_format_epilogue_batch_matches_eager(fmt, batch, k_blocks, n_blocks, sparsity, bias, activation, scale, residual, seed):
    k, n = 16 * k_blocks, 16 * n_blocks
    torch.manual_seed(seed)
    model = Layer(k, n, bias, activation, scale, residual).eval()
    prune(model.fc, fmt, sparsity)
    if not model.fc.weight.any():
        return
    x, r = torch.randn(batch, k), torch.randn(batch, n)
    override = "channels" if fmt == "channels" else fmt
    compiled = sparsile.compile(model, (x, r), sparsity={"fc": override}, cache=False)
    (layer,) = compiled.report
    assert layer.pattern == override, "the requested pattern is the layer's"
    assert layer.format != "dense", "a requested pattern is never scheduled dense on cpu"
    with torch.no_grad():
        expected = model(x, r)
    got = compiled(x, r)
    # fp32 sums in a different order: error grows with the reduction length.
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5 * k)


@pytest.mark.parametrize("rows", [1, 3, 31, 33, 197])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_at_odd_row_counts(fmt, rows):
    """Row counts with no factor of 16 run in padded activation blocks, with the exact result."""
    torch.manual_seed(rows)
    model = Layer(96, 128, True, "relu", 1.0, True).eval()
    prune(model.fc, fmt, 0.8)
    x, r = torch.randn(rows, 96), torch.randn(rows, 128)
    compiled = sparsile.compile(model, (x, r), sparsity={"fc": fmt}, cache=False)
    assert compiled.report["fc"].format != "dense"
    with torch.no_grad():
        expected = model(x, r)
    np.testing.assert_allclose(compiled(x, r).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5 * 96)


@pytest.mark.parametrize("m,mb", [(1, 2), (2, 2), (3, 4), (7, 8), (16, 16), (31, 32), (33, 64), (50, 64), (197, 128), (256, 128)])
def test_activation_blocks_are_whole_vectors(m, mb):
    from sparsile.passes.csr_kernels import activation_block
    from sparsile.passes.feature_major import padded_rows

    assert activation_block(m) == mb
    assert padded_rows(m, mb) % mb == 0 and padded_rows(m, mb) - m < mb
