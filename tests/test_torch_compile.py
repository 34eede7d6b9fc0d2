"""torch.compile(model, backend="sparsile"): numerics, fallbacks, shapes, grads, the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pruning
import pytest
import torch
from conftest import EXAMPLES

import sparsile
from sparsile.cache import stats


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def compiled_call(model, args, **compile_kwargs):
    compiled = torch.compile(model, backend="sparsile", **compile_kwargs)
    with torch.no_grad():
        return compiled, compiled(*args)


def test_backend_is_registered_by_entry_point():
    assert "sparsile" in torch._dynamo.list_backends()


@pytest.mark.parametrize("factory", ["mlp", "cnn", "encoder_block"])
@pytest.mark.parametrize("pruned", [False, True], ids=["dense", "pruned"])
def test_matches_eager(models, factory, pruned):
    model, args = getattr(models, factory)()
    if pruned:
        for layer in [m for m in model.modules() if isinstance(m, torch.nn.Linear)]:
            pruning.magnitude(layer, 0.9)
    stores = stats.stores
    compiled, got = compiled_call(model, args)
    with torch.no_grad():
        expected = model(*args)
        fresh = tuple(torch.randn_like(a) for a in args)
        torch.testing.assert_close(compiled(*fresh), model(*fresh), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert stats.stores == stores + 1, "one graph, compiled once, stored in the cache"


def test_pruned_weights_are_detected_and_options_reach_the_compiler():
    import models

    model, args = models.mlp()
    pruning.n_of_m(model.layers[1], 2, 4)
    pruning.magnitude(model.layers[0], 0.9)
    compiled_call(model, args, options={"sparsity": {"layers.2": "csr"}, "target": "cpu"})
    manifest = json.loads((Path(os.environ["SPARSILE_CACHE_DIR"]) / stats.keys[-1] / "manifest.json").read_text())
    patterns = {row["name"]: (row["pattern"], row["source"]) for row in manifest["layers"]}
    assert patterns == {
        "layers.0.weight": ("csr", "detected"),
        "layers.1.weight": ("2:4", "detected"),
        "layers.2.weight": ("csr", "override"),
    }
    assert {row["name"]: row["format"] for row in manifest["layers"]}["layers.2.weight"] in ("csr", "bitmask")  # formats holding csr


class WithUnsupported(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        return torch.linalg.svdvals(self.fc(x).reshape(-1, 4, 4))


def test_unsupported_op_falls_back_with_one_warning():
    torch.manual_seed(0)
    model = WithUnsupported().eval()
    x = torch.randn(2, 16, 8)
    compiled = torch.compile(model, backend="sparsile")
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        first = compiled(x)
        second = compiled(torch.randn(2, 16, 8))
    messages = [str(w.message) for w in caught if "sparsile" in str(w.message) and not issubclass(w.category, sparsile.CostModelWarning)]
    assert messages == ["sparsile: operator 'aten._linalg_svd' is not supported; this graph runs eagerly"]
    with torch.no_grad():
        torch.testing.assert_close(first, model(x))
    assert second.shape == first.shape


def test_grad_mode_runs_eagerly_with_correct_gradients(models):
    model, (x,) = models.mlp()
    compiled = torch.compile(model, backend="sparsile")
    with pytest.warns(UserWarning, match="needs autograd .* runs eagerly"):
        out = compiled(x)
    out.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(x).sum().backward()
    for got, expected in zip(grads, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(got, expected)


def test_new_batch_sizes_compile_new_static_artifacts(models):
    torch.manual_seed(3)
    model = models.MLP((32, 48, 16)).eval()  # a model no other test compiles
    compiled = torch.compile(model, backend="sparsile")
    before = stats.stores
    with torch.no_grad():
        for batch in (4, 7, 9, 7, 4):
            x = torch.randn(batch, 32)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
    # Dynamo recompiles once with a symbolic batch; sparsile then builds one static
    # artifact per concrete shape. IREE runs once per distinct shape, never for a repeat.
    assert stats.stores == before + 3


def test_in_place_weight_updates_recompile(models):
    model, (x,) = models.mlp()
    compiled, _ = compiled_call(model, (x,))
    with torch.no_grad():
        model.layers[0].weight.mul_(0.5)
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_second_process_hits_the_cache(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {str(EXAMPLES)!r})
        import models
        from sparsile.cache import stats
        model, args = models.encoder_block()
        with torch.no_grad():
            torch.compile(model, backend="sparsile")(*args)
        print(stats.hits, stats.stores)
        """
    )
    env = {**os.environ, "SPARSILE_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.split() == ["0", "1"], "first process compiles and stores"
    assert runs[1].stdout.split() == ["1", "0"], "second process loads it: no recompilation"


def test_four_processes_share_one_cache_entry(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(EXAMPLES)!r})
        import models, sparsile
        model, args = models.mlp()
        compiled = sparsile.compile(model, args)
        print(float((compiled(*args) - model(*args)).abs().max()))
        """
    )
    cache = tmp_path / "cache"
    env = {**os.environ, "SPARSILE_CACHE_DIR": str(cache), "SPARSILE_ALWAYS_COMPILE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert float(out) < 1e-5
    entries = list(cache.iterdir())
    assert [e.name.startswith("sp-") for e in entries] == [True], f"exactly one entry, no temp files: {entries}"
    import sparsile

    sparsile.load(entries[0])  # complete and verified
