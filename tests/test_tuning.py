"""tune=True: every candidate storage and tile configuration is timed on this machine and the fastest kept."""

from __future__ import annotations

import pruning
import torch

import sparsile
from sparsile.options import CompileOptions
from sparsile.passes.pipelines import kernels
from sparsile.passes.schedule import TUNED_MARGIN


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 128)).eval()
    pruning.magnitude(model[0], 0.9)
    pruning.magnitude(model[2], 0.5)
    return model


def test_tuned_choices_are_measured_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSILE_CACHE_DIR", str(tmp_path))
    model = _model()
    x = torch.randn(33, 256)
    compiled = sparsile.compile(model, (x,), tune=True, cache=False)
    for layer in compiled.report:
        assert layer.measured_us > 0 and layer.dense_measured_us > 0 and not layer.dense_predicted_us
        if layer.format == "dense":
            assert layer.fallback.startswith("measured") and layer.measured_us == layer.dense_measured_us
        else:  # the fastest sparse candidate, kept only where it measured faster than dense
            assert layer.measured_us <= layer.dense_measured_us / TUNED_MARGIN
    assert "tuned:" in compiled.report.table()
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)
    timed = sorted((tmp_path / "tuning").glob("*.json"))
    assert len(timed) >= 4  # dense and csr (with its tile variants) per layer
    # A second compile of the same model times nothing: every decision comes from the cache.
    again = sparsile.compile(model, (x,), tune=True, cache=False)
    assert sorted((tmp_path / "tuning").glob("*.json")) == timed
    assert [layer.format for layer in again.report] == [layer.format for layer in compiled.report]


def test_tuning_applies_to_the_host_cpu_only():
    def schedule(target: str):
        return next(e for e in kernels(CompileOptions(target=target, tune=True)) if e.name == "schedule")

    assert "tune=true" in schedule("cpu").spec()
    assert "tune=true" not in schedule("cpu:aarch64").spec()  # cross-compiled: nothing here can time it
    assert "tune=true" not in schedule("vulkan").spec()
