"""float16 and bfloat16 models: fp16 weights upcast for a float32 matmul are detected and stored sparse; bf16 runs."""

from __future__ import annotations

import pruning
import torch

import sparsile


def _mlp(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 32)).eval()
    pruning.magnitude(model[0], 0.9)
    return model.to(dtype)


def test_float16_weights_are_detected_and_stored_sparse():
    model = _mlp(torch.float16)
    x = torch.randn(4, 64, dtype=torch.float16)
    annotated = sparsile.lower(model, (x,), "annotated")
    # torch computes a float16 Linear in float32 on the CPU: the upcast is folded into the weight.
    assert 'sparsile.source_dtype = "f16"' in annotated and "tensor<128x64xf32>" in annotated
    report = sparsile.analyze(model, (x,))
    assert report["0"].pattern == "csr" and abs(report["0"].density - 0.1) < 1e-3
    compiled = sparsile.compile(model, (x,), sparsity={"0": "csr"}, cache=False)
    assert compiled.report["0"].format == "csr"
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    assert got.dtype == torch.float16
    torch.testing.assert_close(got, expected)  # float16's tolerances: accumulation order may move the last bit


def test_bfloat16_models_run():
    model = _mlp(torch.bfloat16)
    x = torch.randn(4, 64, dtype=torch.bfloat16)
    compiled = sparsile.compile(model, (x,), cache=False)
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got, expected)
