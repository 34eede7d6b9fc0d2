"""The artifact cache: hits, keys, damaged entries and the switches."""

from __future__ import annotations

from pathlib import Path

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
    assert second.manifest.files == first.manifest.files


def test_options_that_change_output_change_the_key(cache, models):
    model, args = models.mlp()
    sparsile.compile(model, args)
    sparsile.compile(model, args, sparsity={"layers.0": "csr"})
    sparsile.compile(model, args, target="cpu:znver4")
    sparsile.compile(model, args, progress=lambda *a: None)  # progress does not change output
    assert len(entries(cache)) == 3


def _key(model, args, **options):
    from sparsile.driver import compile_key
    from sparsile.options import CompileOptions

    return compile_key(model, args, CompileOptions(**options))


# A value other than the default for every option that reaches a compile's output.
_OTHER_VALUES = {
    "target": "cpu:znver4",
    "entry": "main",
    "from_stage": "linalg",
    "elide_limit": None,
    "pass_options": {"detect-sparsity": {"min-sparsity": 0.5}},
    "iree_flags": ("--iree-opt-level=O1",),
    "sparsity": {"layers.0": "csr"},
    "native_options": {"vl": 8},
    "quantize": "int8",
    "tune": True,
    "dynamic_shapes": "batch",  # made into torch.export's argument for the model's input below
    "parameters": True,
}


def test_every_option_that_changes_output_changes_the_key(models):
    from sparsile.options import NOT_IN_CACHE_KEY, CompileOptions

    fields = {f.name for f in __import__("dataclasses").fields(CompileOptions)}
    assert set(_OTHER_VALUES) == fields - NOT_IN_CACHE_KEY, "a new option needs a decision: in the key or not"
    model, args = models.mlp()
    base = _key(model, args)
    linalg = sparsile.lower(model, args, "linalg", elide_limit=None)
    for name, value in _OTHER_VALUES.items():
        if name == "from_stage":  # a torch model always starts at linalg: compare starts of an MLIR input
            assert _key(linalg, (), from_stage="annotated") != _key(linalg, (), from_stage="linalg")
            continue
        if name == "dynamic_shapes":
            from torch.export import Dim

            value = {"x": {0: Dim("batch", min=1, max=8)}}
        target = {"target": "native-cpu"} if name == "native_options" else {}
        reference = _key(model, args, **target) if target else base
        assert _key(model, args, **target, **{name: value}) != reference, f"option {name} does not reach the cache key"
    assert _key(model, args, progress=lambda *a: None) == base


def test_native_options_select_different_entries(cache, models):
    model, args = models.mlp()
    sparsile.compile(model, args, target="native-cpu")
    sparsile.compile(model, args, target="native-cpu", native_options={"vl": 8})
    assert len(entries(cache)) == 2


def test_read_only_cache_warns_and_compiles(tmp_path, monkeypatch, models):
    import os

    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    if os.getuid() == 0:  # root writes anywhere: give the check the answer a user without write access gets
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == root and mode & os.W_OK else real_access(p, mode))
    monkeypatch.setenv("SPARSILE_CACHE_DIR", str(root))
    model, args = models.mlp()
    try:
        with pytest.warns(sparsile.CacheWarning, match=r"the artifact cache .*ro is not writable.*compiling without the artifact cache"):
            compiled = sparsile.compile(model, args)
    finally:
        root.chmod(0o700)
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)
    assert list(root.iterdir()) == []


def test_failing_cache_write_warns_and_returns_the_model(cache, monkeypatch, models):
    import sparsile.cache

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(sparsile.cache.tempfile, "mkdtemp", refuse)
    model, args = models.mlp()
    with pytest.warns(sparsile.CacheWarning, match=r"cannot be written \(Permission denied\); compiling without the artifact cache"):
        compiled = sparsile.compile(model, args)
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


def test_cache_path_that_is_a_file_warns_and_compiles(tmp_path, monkeypatch, models):
    path = tmp_path / "cache-file"
    path.write_text("")
    monkeypatch.setenv("SPARSILE_CACHE_DIR", str(path))
    model, args = models.mlp()
    with pytest.warns(sparsile.CacheWarning, match=r"cache-file is a file, not a directory; set SPARSILE_CACHE_DIR to a directory"):
        compiled = sparsile.compile(model, args)
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


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
