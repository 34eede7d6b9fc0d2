"""Weights in an IREE parameter archive: the artifact's model.irpa, read through util.globals, hashed by the manifest.

A compile with ``parameters=True`` writes the weights (and the storage packed for sparse
ones) into ``model.irpa`` beside ``model.vmfb``; the stock ``iree-run-module`` runs it
with ``--parameters=model=model.irpa``, a modified archive is refused on load, and
small models keep their weights inline unless asked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pruning
import pytest
import torch

import sparsile
from sparsile.errors import ArtifactError, SparsileError
from sparsile.manifest import content_digest

TOOLS = Path(sys.executable).parent


def _pruned_mlp():
    from models import MLP

    torch.manual_seed(0)
    model = MLP((64, 128, 32)).eval()
    pruning.magnitude(model.layers[0], 0.8)
    return model, (torch.randn(2, 64),)


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    model, args = _pruned_mlp()
    compiled = sparsile.compile(model, args, sparsity={"layers.0": "csr"}, parameters=True, cache=False)
    directory = compiled.save(tmp_path_factory.mktemp("params") / "mlp")
    return model, args, compiled, directory


def test_weights_live_in_the_archive(archived):
    model, args, compiled, directory = archived
    with torch.no_grad():
        expected = model(*args)
    torch.testing.assert_close(compiled(*args), expected, rtol=1e-5, atol=1e-6)
    assert compiled.manifest.parameters == {"model": "model.irpa"}
    handoff = compiled.ir("iree-handoff")
    # The dense weight by its name, the sparse layer's packed values by layer and role; nothing large stays inline.
    assert '#stream.parameter.named<"model"::"layers.1.weight"> : tensor<32x128xf32>' in handoff
    assert '#stream.parameter.named<"model"::"layers.0.weight.values">' in handoff
    assert "util.global.load immutable" in handoff
    assert "sparsile.parameter" not in handoff
    assert (directory / "model.irpa").stat().st_size > 128 * 32 * 4
    # The .vmfb holds code only: smaller than the weights it reads.
    assert (directory / "model.vmfb").stat().st_size < (directory / "model.irpa").stat().st_size


def test_archive_round_trip(archived):
    model, args, compiled, directory = archived
    data = json.loads((directory / "manifest.json").read_text())
    assert data["parameters"] == {"model": "model.irpa"}
    assert "model.irpa" in data["files"] and "model.vmfb" in data["files"]
    loaded = sparsile.load(directory)
    assert loaded.parameter_files == {"model": directory / "model.irpa"}
    torch.testing.assert_close(loaded(*args), compiled(*args))


def test_stock_iree_run_module_reads_the_archive(archived, tmp_path):
    _, args, compiled, directory = archived
    np.save(tmp_path / "x.npy", args[0].numpy())
    np.save(tmp_path / "expected.npy", compiled(*args).numpy())
    command = [str(TOOLS / "iree-run-module"), f"--module={directory / 'model.vmfb'}", "--device=local-task",
               "--function=main", f"--input=@{tmp_path / 'x.npy'}", f"--expected_output=@{tmp_path / 'expected.npy'}"]
    result = subprocess.run([*command, f"--parameters=model={directory / 'model.irpa'}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[SUCCESS]" in result.stdout
    missing = subprocess.run(command, capture_output=True, text=True)  # the weights are nowhere else
    assert missing.returncode != 0
    dump = subprocess.run([str(TOOLS / "iree-dump-parameters"), f"--parameters={directory / 'model.irpa'}"], capture_output=True, text=True)
    assert "`layers.1.weight`" in dump.stdout and "`layers.0.weight.values`" in dump.stdout


def test_a_modified_archive_is_refused(archived, tmp_path):
    *_, directory = archived
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    archive = copy / "model.irpa"
    data = bytearray(archive.read_bytes())
    data[-1] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"model\.irpa does not match the sha256 in manifest\.json .*truncated or modified"):
        sparsile.load(copy)
    archive.unlink()
    with pytest.raises(ArtifactError, match=r"model\.irpa cannot be read .*the artifact is incomplete"):
        sparsile.load(copy)


def test_a_manifest_must_list_its_archive(archived, tmp_path):
    *_, directory = archived
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    path = copy / "manifest.json"
    data = json.loads(path.read_text())
    del data["files"]["model.irpa"]
    data["digest"] = content_digest(data)  # re-signed, as a forger would
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=r"names the parameter archive 'model\.irpa' \(scope 'model'\) but does not list it"):
        sparsile.load(copy)


def test_small_models_keep_weights_inline_unless_large(monkeypatch):
    from sparsile import parameters

    model, args = _pruned_mlp()
    inline = sparsile.compile(model, args, cache=False)
    assert inline.manifest.parameters == {} and inline.parameter_files == {}
    assert "stream.parameter" not in inline.ir("iree-handoff")
    # The automatic choice is by size: above the threshold the weights move out.
    monkeypatch.setattr(parameters, "AUTO_THRESHOLD", 16 * 1024)
    moved = sparsile.compile(model, args, cache=False)
    assert moved.manifest.parameters == {"model": "model.irpa"}
    torch.testing.assert_close(moved(*args), inline(*args), rtol=1e-6, atol=1e-7)
    assert sparsile.compile(model, args, cache=False, parameters=False).manifest.parameters == {}


def test_bad_parameters_option():
    with pytest.raises(SparsileError, match=r"parameters= takes True, False or None, got 'yes'"):
        sparsile.CompileOptions(parameters="yes")
    with pytest.raises(SparsileError, match="parameters=True is for IREE targets: native-cpu has no parameter archive"):
        sparsile.CompileOptions(target="native-cpu", parameters=True)
