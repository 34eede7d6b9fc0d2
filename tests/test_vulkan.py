"""Vulkan numerics: pruned models in every format, through sparsile's runtime and stock iree-run-module.

These run wherever a Vulkan device exists; in CI that is Mesa's lavapipe (a CPU Vulkan
driver, installed by ``.ci/run``), which says nothing about GPU speed. They skip, saying
why, where there is none.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sparsile

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
REQUESTED = {
    "mlp": {"layers.0": "csr", "layers.1": "2:4", "layers.2": "bsr16", "layers.3": "channels"},  # models.EVERY_PATTERN
    "encoder": {"qkv": "csr", "proj": "2:4", "fc1": "bsr16", "fc2": "channels"},
}


def _vulkan_problem() -> str | None:
    from sparsile.runtime import get_device

    try:
        get_device("vulkan")
    except sparsile.RuntimeLoadError as err:
        return str(err)
    return None


pytestmark = pytest.mark.skipif(
    (problem := _vulkan_problem()) is not None,
    reason=f"no Vulkan device here ({problem}); `.ci/run` installs Mesa's lavapipe (mesa-vulkan-drivers libvulkan1)",
)


def _mlp_in_every_format() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    from models import mlp_every_pattern

    return mlp_every_pattern(), (torch.randn(8, 64),)


def _pruned_encoder_block(models) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    import pruning

    model, args = models.encoder_block()
    pruning.magnitude(model.qkv, 0.9)
    pruning.n_of_m(model.proj, 2, 4)
    pruning.blocks(model.fc1, 0.75, 16)
    pruning.neurons(model.fc2, 0.5)
    return model, args


def _pruned_cnn(models) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    import torch.nn.utils.prune

    model, args = models.cnn()
    with torch.no_grad():
        for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
            torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.9)
            torch.nn.utils.prune.remove(conv, "weight")
    return model, args


@pytest.fixture(scope="module")
def vulkan_models(models, tmp_path_factory):
    built = {}
    for name, make in (("mlp", _mlp_in_every_format), ("encoder", lambda: _pruned_encoder_block(models)), ("cnn", lambda: _pruned_cnn(models))):
        model, args = make()
        # Requested, so that every GPU storage format is lowered whatever lavapipe's (CPU) speed says.
        compiled = sparsile.compile(model, args, target="vulkan", sparsity=REQUESTED.get(name, {}))
        directory = compiled.save(tmp_path_factory.mktemp("vulkan") / name)
        with torch.no_grad():
            expected = model(*args)
        built[name] = (compiled, directory, args, expected)
    yield built
    for compiled, *_ in built.values():
        compiled.release()


@pytest.mark.parametrize("name", ["mlp", "encoder", "cnn"])
def test_vulkan_matches_eager_through_sparsile(vulkan_models, name):
    compiled, directory, args, expected = vulkan_models[name]
    torch.testing.assert_close(compiled(*args), expected, **TOLERANCE)
    loaded = sparsile.load(directory)
    try:
        got = loaded(*(a.numpy() for a in args))
        np.testing.assert_allclose(got, expected.numpy(), **TOLERANCE)
    finally:
        loaded.release()


@pytest.mark.parametrize("name", ["mlp", "encoder"])
def test_vulkan_runs_the_gpu_storage_of_every_pattern(vulkan_models, name):
    compiled, *_ = vulkan_models[name]
    rows = [layer for layer in compiled.report if layer.pattern != "dense"]
    assert [(layer.pattern, layer.format) for layer in rows] == [("csr", "ell"), ("2:4", "nmell"), ("bsr16", "bell"), ("channels", "channels")]
    assert not any(layer.fallback for layer in rows)


@pytest.mark.parametrize("name", ["mlp", "encoder", "cnn"])
def test_vulkan_matches_eager_through_iree_run_module(vulkan_models, name, tmp_path):
    compiled, directory, args, expected = vulkan_models[name]
    inputs = []
    for i, arg in enumerate(args):
        np.save(tmp_path / f"x{i}.npy", arg.numpy())
        inputs.append(f"--input=@{tmp_path / f'x{i}.npy'}")
    tool = Path(sys.executable).parent / "iree-run-module"
    result = subprocess.run(
        [str(tool), f"--module={directory / 'model.vmfb'}", "--device=vulkan", f"--function={compiled.manifest.entry}",
         *inputs, f"--output=@{tmp_path / 'y.npy'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected.numpy(), **TOLERANCE)


def test_vulkan_takes_unaligned_arguments(vulkan_models):
    """Vulkan imports host memory only at 4096-byte alignment; the runtime copies what it cannot import."""
    compiled, _, args, expected = vulkan_models["mlp"]
    x = args[0].numpy()
    backing = np.empty(x.size + 1, dtype=x.dtype)
    unaligned = backing[1:].reshape(x.shape)
    unaligned[...] = x
    assert unaligned.ctypes.data % 4096 != 0 and unaligned.flags.c_contiguous
    np.testing.assert_allclose(compiled(unaligned), expected.numpy(), **TOLERANCE)


def test_vulkan_one_row_in_every_format():
    """One row is a GEMV on GPUs (ell's columns 32-bit on Vulkan: its 16-bit one-row code reads them wrongly;
    nmell's 8-bit places are read right)."""
    model, _ = _mlp_in_every_format()
    x = torch.randn(1, 64)
    compiled = sparsile.compile(model, (x,), target="vulkan", sparsity=REQUESTED["mlp"], cache=False)
    try:
        assert [layer.format for layer in compiled.report][:4] == ["ell", "nmell", "bell", "channels"]
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 3, 8])
@pytest.mark.parametrize("nm", ["2:4", "1:4", "2:8", "4:8"])
def test_vulkan_reads_n_of_m_places(nm, rows):
    """Every N:M pattern as nmell (values + 8-bit places), at one row (GEMV) and several, with bias and ReLU."""
    import pruning
    from models import MLP

    n, m = (int(v) for v in nm.split(":"))
    torch.manual_seed(n * 10 + m)
    model = MLP((256, 384, 64)).eval()
    pruning.n_of_m(model.layers[0], n, m)
    x = torch.randn(rows, 256)
    compiled = sparsile.compile(model, (x,), target="vulkan", sparsity={"layers.0": nm}, cache=False)
    try:
        (layer,) = [layer for layer in compiled.report if layer.pattern == nm]
        assert layer.format == "nmell" and not layer.fallback
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 3, 8, 32])
def test_vulkan_block_rows_at_any_row_count(rows):
    """bsr16 as bell: a GEMV at one row, gathered column blocks times dense blocks (a batch matmul) at more."""
    import pruning

    torch.manual_seed(rows)
    layer = torch.nn.Linear(256, 512).eval()
    pruning.blocks(layer, 0.8, 16)
    x = torch.randn(rows, 256)
    compiled = sparsile.compile(layer, (x,), target="vulkan", sparsity={"weight": "bsr16"}, cache=False)
    try:
        (row,) = compiled.report
        assert row.format == "bell" and not row.fallback
        assert ("linalg.batch_matmul" in compiled.ir("iree-input")) == (rows > 1)
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), layer(x), **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 8])
def test_vulkan_compacts_pruned_neurons(rows):
    """Half the hidden neurons of a 768-3072-768 MLP removed: both layers shrink to 1536 on Vulkan, as on cpu."""
    import pruning
    from models import MLP

    torch.manual_seed(0)
    model = MLP((768, 3072, 768)).eval()
    pruning.neurons(model.layers[0], 0.5)
    x = torch.randn(rows, 768)
    compiled = sparsile.compile(model, (x,), target="vulkan", cache=False)
    try:
        assert [(layer.pattern, layer.format) for layer in compiled.report] == [("channels", "channels"), ("dense", "dense")]
        assert not re.search(r"tensor<(\d+x)*3072x", compiled.ir("iree-handoff")), "a 3072-wide tensor reached IREE"
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), **TOLERANCE)
    finally:
        compiled.release()
