"""Artifacts: save -> load -> call, the manifest, stock iree-run-module, and damaged artifacts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sparsile
from sparsile.errors import ArtifactError


@pytest.fixture(scope="module")
def saved(tmp_path_factory, models):
    model, args = models.mlp()
    compiled = sparsile.compile(model, args)
    directory = compiled.save(tmp_path_factory.mktemp("artifact") / "mlp")
    return model, args, compiled, directory


def test_round_trip(saved):
    model, args, compiled, directory = saved
    loaded = sparsile.load(directory)
    torch.testing.assert_close(loaded(*args), compiled(*args))
    torch.testing.assert_close(loaded(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)
    assert loaded.manifest == compiled.manifest
    assert "linalg.matmul" in loaded.ir("iree-input")


def test_manifest_contents(saved):
    _, args, compiled, directory = saved
    data = json.loads((directory / "manifest.json").read_text())
    assert data["entry"] == "main"
    assert data["inputs"] == [{"name": "x", "shape": list(args[0].shape), "dtype": "float32"}]
    assert data["outputs"] == [{"name": "output0", "shape": [args[0].shape[0], 32], "dtype": "float32"}]
    assert data["target"]["backend"] == "llvm-cpu" and data["target"]["driver"] == "local-task"
    assert "--iree-llvmcpu-target-cpu=host" in data["iree_flags"]
    assert data["versions"]["torch-mlir"] == "20261001"
    assert data["versions"]["iree-base-compiler"] == "3.13.0"
    import hashlib

    assert data["vmfb_sha256"] == hashlib.sha256((directory / "model.vmfb").read_bytes()).hexdigest()
    assert sorted(p.name for p in (directory / "ir").iterdir()) == [
        "00-linalg.mlir",
        "01-annotated.mlir",
        "02-kernels.mlir",
        "03-iree-input.mlir",
    ]


def test_stock_iree_run_module_agrees(saved, tmp_path):
    _, args, compiled, directory = saved
    x = args[0].numpy()
    np.save(tmp_path / "x.npy", x)
    tool = Path(sys.executable).parent / "iree-run-module"
    result = subprocess.run(
        [
            str(tool),
            f"--module={directory / 'model.vmfb'}",
            "--device=local-task",
            "--function=main",
            f"--input=@{tmp_path / 'x.npy'}",
            f"--output=@{tmp_path / 'y.npy'}",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), compiled(x))


def _copy(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(directory, target)
    return target


def test_truncated_vmfb_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    vmfb = directory / "model.vmfb"
    vmfb.write_bytes(vmfb.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match=r"model.vmfb does not match the sha256 in manifest.json \(1000 bytes"):
        sparsile.load(directory)


def test_tampered_vmfb_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    vmfb = directory / "model.vmfb"
    data = bytearray(vmfb.read_bytes())
    data[len(data) // 2] ^= 0xFF
    vmfb.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="truncated or modified"):
        sparsile.load(directory)


def test_damaged_manifest_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    manifest = directory / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(ArtifactError, match="manifest.json is not valid JSON"):
        sparsile.load(directory)


def test_manifest_missing_field_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    manifest = directory / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["inputs"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="missing or has malformed fields"):
        sparsile.load(directory)


def test_missing_files_are_rejected(saved, tmp_path):
    with pytest.raises(ArtifactError, match="is not an artifact directory"):
        sparsile.load(tmp_path / "nope")
    directory = _copy(saved[3], tmp_path)
    (directory / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="has no manifest.json"):
        sparsile.load(directory)


def test_newer_format_version_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    manifest = directory / "manifest.json"
    data = json.loads(manifest.read_text())
    data["format_version"] = 99
    manifest.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="format_version 99; this sparsile reads version 1"):
        sparsile.load(directory)
