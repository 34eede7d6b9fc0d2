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
