"""float16 and bfloat16 models: their weights are detected, stored in their own precision and multiplied in float32."""

from __future__ import annotations

import re

import pruning
import pytest
import torch

import sparsile


def _mlp(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 32)).eval()
    pruning.magnitude(model[0], 0.9)
    return model.to(dtype)


@pytest.mark.parametrize("dtype, element", [(torch.float16, "f16"), (torch.bfloat16, "bf16")])
def test_half_precision_weights_are_detected_and_stored_in_their_precision(dtype, element):
    model = _mlp(dtype)
    x = torch.randn(4, 64, dtype=dtype)
    # torch computes a half-precision Linear in float32 on the CPU: detection sees through the upcast.
    annotated = sparsile.lower(model, (x,), "annotated")
    assert re.search(rf"sparse_tensor.convert %\S+ : tensor<128x64x{element}> to tensor<128x64x{element}, #", annotated)
    report = sparsile.analyze(model, (x,))
    assert report["0"].pattern == "csr" and abs(report["0"].density - 0.1) < 1e-3
    compiled = sparsile.compile(model, (x,), sparsity={"0": "csr"}, pass_options={"schedule": {"formats": ["csr"]}}, cache=False)
    (layer, head) = compiled.report
    assert layer.format == "csr"
    # Stored values stay 16-bit: 2 bytes per value, 16-bit columns, and the CSR offsets.
    assert layer.sparse_bytes == pytest.approx(4 * 819 + 129 * 4, abs=8) and layer.dense_bytes == 2 * 128 * 64
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected)  # the dtype's tolerances: accumulation order may move the last bit


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 7, 33])
def test_a_half_precision_sparse_weight_scheduled_dense_accumulates_in_float32(dtype, rows):
    """A pruned weight that stays dense runs through the dense kernel, which must return the float32 the
    other kernels do (it used to return the model's dtype, and iree-input failed on the cast after it)."""
    model = _mlp(dtype)
    x = torch.randn(rows, 64, dtype=dtype)
    compiled = sparsile.compile(model, (x,), sparsity={"0": "csr"}, pass_options={"schedule": {"formats": ["dense"]}}, cache=False)
    assert compiled.report["0"].pattern == "csr" and compiled.report["0"].format == "dense"
    element = "f16" if dtype == torch.float16 else "bf16"
    assert f"tensor<128x64x{element}>" in compiled.ir("iree-input"), "the weight stays in its own precision"
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected)


class _MixedBlock(torch.nn.Module):
    """float16 projections around a float32 layer norm: the activations change precision at each boundary."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(64)
        self.up = torch.nn.Linear(64, 256).half()
        self.down = torch.nn.Linear(256, 64).half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.up(self.norm(x).half())
        return x + self.down(torch.nn.functional.gelu(hidden)).float()


@pytest.mark.parametrize("rows", [1, 7])
def test_a_bfloat16_transformer_block_runs_sparse_and_matches_eager(models, rows):
    """Every projection pruned (90% qkv, 2:4 fc1, 16x16 blocks in fc2), layer norms, softmax and GELU all in bfloat16."""
    torch.manual_seed(0)
    model = models.EncoderBlock()
    pruning.magnitude(model.qkv, 0.9)
    pruning.n_of_m(model.fc1, 2, 4)
    pruning.blocks(model.fc2, 0.75, 16)
    model = model.to(torch.bfloat16).eval()
    x = torch.randn(1, rows, 64, dtype=torch.bfloat16)
    compiled = sparsile.compile(model, (x,), sparsity={"qkv": "csr", "fc1": "2:4", "fc2": "bsr16"}, cache=False)
    report = compiled.report
    assert all(report[name].format != "dense" and report[name].precision == "bf16" for name in ("qkv", "fc1", "fc2")), report.table()
    with torch.no_grad():
        expected = model(x).float()
    got = compiled(x)
    assert got.dtype == torch.bfloat16
    # torch's bfloat16 tolerance (two steps of its 8-bit mantissa), also as an absolute one for outputs near zero.
    torch.testing.assert_close(got.float(), expected, rtol=1.6e-2, atol=1.6e-2)


def test_float16_weights_around_a_float32_layer_norm():
    torch.manual_seed(0)
    model = _MixedBlock().eval()
    pruning.magnitude(model.up, 0.7)
    pruning.n_of_m(model.down, 2, 4)
    x = torch.randn(3, 64)
    compiled = sparsile.compile(model, (x,), sparsity={"up": "csr", "down": "2:4"}, cache=False)
    assert [(row.format != "dense", row.precision) for row in compiled.report] == [(True, "f16"), (True, "f16")]
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=2e-3, atol=2e-3)
