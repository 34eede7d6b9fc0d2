"""The artifact cache: hits, keys, damaged entries and the switches."""

from __future__ import annotations

import pytest
import torch

import sparsile
from sparsile.cache import stats


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSILE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def entries(cache):
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_hit_returns_a_working_model_with_its_ir(cache, models):
    model, args = models.mlp()
    first = sparsile.compile(model, args)
    hits = stats.hits
    second = sparsile.compile(model, args)
    assert stats.hits == hits + 1 and len(entries(cache)) == 1
    torch.testing.assert_close(second(*args), first(*args))
    assert second.ir("kernels") == first.ir("kernels")
    assert second.manifest.vmfb_sha256 == first.manifest.vmfb_sha256


def test_options_that_change_output_change_the_key(cache, models):
    model, args = models.mlp()
    sparsile.compile(model, args)
    sparsile.compile(model, args, sparsity={"layers.0": "csr"})
    sparsile.compile(model, args, target="cpu:znver4")
    sparsile.compile(model, args, progress=lambda *a: None)  # progress does not change output
    assert len(entries(cache)) == 3


def test_damaged_entry_is_replaced(cache, models):
    model, args = models.mlp()
    sparsile.compile(model, args)
    (entry,) = entries(cache)
    vmfb = cache / entry / "model.vmfb"
    vmfb.write_bytes(vmfb.read_bytes()[:100])
    stores = stats.stores
    compiled = sparsile.compile(model, args)
    assert stats.stores == stores + 1
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)
    sparsile.load(cache / entry)  # valid again


def test_switches(cache, models, monkeypatch):
    model, args = models.mlp()
    monkeypatch.setenv("SPARSILE_NO_CACHE", "1")
    sparsile.compile(model, args)
    assert entries(cache) == []
    monkeypatch.delenv("SPARSILE_NO_CACHE")
    sparsile.compile(model, args, cache=False)
    assert entries(cache) == []
    sparsile.compile(model, args)
    monkeypatch.setenv("SPARSILE_ALWAYS_COMPILE", "1")
    hits = stats.hits
    sparsile.compile(model, args)
    assert stats.hits == hits, "always-compile never reads the cache"
    assert len(entries(cache)) == 1


def test_dumps_bypass_the_cache(cache, models, tmp_path):
    model, args = models.mlp()
    sparsile.compile(model, args)
    hits = stats.hits
    sparsile.compile(model, args, dump_ir=tmp_path / "dumps")
    assert stats.hits == hits
    assert (tmp_path / "dumps" / "03-iree-input.mlir").is_file()
    assert not any("dumps" in p for p in entries(cache))
