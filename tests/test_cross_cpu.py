"""Cross-compiled CPU targets: aarch64 artifacts run under qemu-user with the aarch64 iree-run-module.

The aarch64 numerics tests need ``qemu-user-static`` and the arm64 cross libc/libstdc++/libgcc
(Debian packages, installed by ``.ci/run``) and the aarch64 ``iree-run-module`` from the
``iree-base-runtime`` aarch64 wheel (``make aarch64-runtime`` unpacks it into
``build/aarch64-runtime``). They skip, saying which is missing, where one is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import sparsile

ROOT = Path(__file__).resolve().parent.parent
LOADER = Path("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1")
RUN_MODULE = ROOT / "build" / "aarch64-runtime" / "iree" / "_runtime_libs" / "iree-run-module"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def _qemu_problem() -> str | None:
    if shutil.which("qemu-aarch64-static") is None:
        return "no qemu-aarch64-static (Debian qemu-user-static)"
    if not LOADER.exists():
        return f"no {LOADER} (Debian libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)"
    if not RUN_MODULE.exists():
        return f"no aarch64 iree-run-module at {RUN_MODULE} (make aarch64-runtime)"
    return None


needs_qemu = pytest.mark.skipif((problem := _qemu_problem()) is not None, reason=f"cannot run aarch64 code here: {problem}")


def _run_aarch64(directory: Path, args: tuple[torch.Tensor, ...], tmp_path: Path) -> np.ndarray:
    manifest = json.loads((directory / "manifest.json").read_text())
    inputs = []
    for i, arg in enumerate(args):
        np.save(tmp_path / f"x{i}.npy", arg.numpy())
        inputs.append(f"--input=@{tmp_path / f'x{i}.npy'}")
    command = ["qemu-aarch64-static", str(LOADER), "--library-path", str(LOADER.parent), str(RUN_MODULE), "--device=local-sync",
               f"--module={directory / 'model.vmfb'}", f"--function={manifest['entry']}", *inputs, f"--output=@{tmp_path / 'y.npy'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return np.load(tmp_path / "y.npy")


def _mlp():
    from models import mlp_every_pattern

    return mlp_every_pattern()


def _requested():
    from models import EVERY_PATTERN

    return EVERY_PATTERN


@needs_qemu
@pytest.mark.parametrize("rows", [1, 3, 33])
def test_aarch64_mlp_in_every_format_matches_eager(rows, tmp_path):
    """Batch 1 runs the one-row dispatches, more rows the K-blocked and block kernels (padded).
    Which sparse storage each layer gets is the cost model's choice; none stays dense."""
    model = _mlp()
    x = torch.randn(rows, 64)
    compiled = sparsile.compile(model, (x,), target="cpu:aarch64", sparsity=_requested(), cache=False)
    formats = [layer.format for layer in compiled.report][:4]
    assert formats[0] in ("csr", "bitmask") and formats[1] in ("nm", "csr", "bitmask") and formats[2] in ("bsr", "csr", "bitmask"), formats
    assert formats[3] == "channels"
    directory = compiled.save(tmp_path / "artifact")
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(_run_aarch64(directory, (x,), tmp_path), expected, **TOLERANCE)


@needs_qemu
@pytest.mark.parametrize("name", ["encoder_block", "cnn"])
def test_aarch64_models_match_eager(models, name, tmp_path):
    import pruning

    model, args = getattr(models, name)()
    sparsity = {}
    if name == "encoder_block":
        pruning.magnitude(model.qkv, 0.9)
        pruning.n_of_m(model.proj, 2, 4)
        pruning.neurons(model.fc2, 0.5)
        sparsity = {"qkv": "csr", "proj": "2:4", "fc2": "channels"}
    else:
        pruning.magnitude(model.features[0], 0.9)  # the direct sparse convolution
        with torch.no_grad():
            model.features[4].weight[::2] = 0  # compacted
        sparsity = {"features.0": "csr"}
    compiled = sparsile.compile(model, args, target="cpu:aarch64", sparsity=sparsity, cache=False)
    if name == "cnn":
        assert compiled.report["features.0"].format == "csr"
    directory = compiled.save(tmp_path / "artifact")
    with torch.no_grad():
        expected = model(*args).numpy()
    np.testing.assert_allclose(_run_aarch64(directory, args, tmp_path), expected, **TOLERANCE)


def test_a_cross_artifact_says_where_it_runs(tmp_path):
    model = _mlp()
    x = torch.randn(1, 64)
    compiled = sparsile.compile(model, (x,), target="cpu:arm64:neoverse-n1", cache=False)
    assert compiled.manifest.target == {"name": "cpu", "chip": "neoverse-n1", "backend": "llvm-cpu", "driver": "local-task",
                                        "arch": "aarch64", "triple": "aarch64-linux-gnu"}
    assert "--iree-llvmcpu-target-triple=aarch64-linux-gnu" in compiled.manifest.iree_flags
    directory = compiled.save(tmp_path / "artifact")
    message = r"compiled for aarch64-linux-gnu and this machine is x86_64: run it where the CPU is aarch64 .* or under qemu-aarch64"
    with pytest.raises(sparsile.RuntimeLoadError, match=message):
        sparsile.load(directory)
    with pytest.raises(sparsile.RuntimeLoadError, match=message):
        compiled(x)


def test_riscv64_links_and_a_bad_cross_cpu_is_named():
    """RV64GC with hardware floats links (soft-float helpers such as __mulsf3 are not needed)."""
    compiled = sparsile.compile(_mlp(), (torch.randn(1, 64),), target="cpu:riscv64", cache=False)
    assert len(compiled.vmfb) > 1000 and compiled.manifest.target["triple"] == "riscv64-linux-gnu"
    with pytest.raises(sparsile.UnknownChipError, match=r"target 'cpu:aarch64:cortex-q99': iree-compile cannot generate code for chip 'cortex-q99'"):
        sparsile.compile(_mlp(), (torch.randn(1, 64),), target="cpu:aarch64:cortex-q99", cache=False)
    with pytest.raises(sparsile.UnknownChipError, match=r"target 'cuda' takes one chip, got 'sm_80:x'"):
        sparsile.compile(_mlp(), (torch.randn(1, 64),), target="cuda:sm_80:x", cache=False)
