"""Artifacts: save -> load -> call, the manifest and its hashes, stock iree-run-module, damaged and
tampered artifacts (never run code, never load an inconsistent manifest), and the light runtime."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import sparsile
from sparsile.errors import ArtifactError
from sparsile.manifest import content_digest


@pytest.fixture(scope="module")
def saved(tmp_path_factory, models):
    model, args = models.mlp()
    compiled = sparsile.compile(model, args)
    directory = compiled.save(tmp_path_factory.mktemp("artifact") / "mlp")
    return model, args, compiled, directory


def _copy(directory: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(directory, target)
    return target


def _rewrite_manifest(directory: Path, edit: Callable[[dict[str, Any]], None], *, resign: bool) -> None:
    """Edit manifest.json; with ``resign`` the digest is recomputed, as a deliberate forger would."""
    path = directory / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    if resign:
        data["digest"] = content_digest(data)
    path.write_text(json.dumps(data, indent=2))


def test_round_trip(saved):
    model, args, compiled, directory = saved
    loaded = sparsile.load(directory)
    torch.testing.assert_close(loaded(*args), compiled(*args))
    torch.testing.assert_close(loaded(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)
    assert loaded.manifest == compiled.manifest
    assert "linalg.matmul" in loaded.ir("iree-input")
    assert "func.func @main" in loaded.ir("iree-handoff")


def test_manifest_contents(saved):
    _, args, compiled, directory = saved
    data = json.loads((directory / "manifest.json").read_text())
    assert data["entry"] == "main"
    assert data["inputs"] == [{"name": "x", "shape": list(args[0].shape), "dtype": "float32"}]
    assert data["outputs"] == [{"name": "output0", "shape": [args[0].shape[0], 32], "dtype": "float32"}]
    assert data["output_structure"] == {"type": "leaf"}
    assert data["target"]["backend"] == "llvm-cpu" and data["target"]["driver"] == "local-task"
    assert "--iree-llvmcpu-target-cpu=host" in data["iree_flags"]
    assert data["versions"]["torch-mlir"] == "20261001"
    assert data["versions"]["iree-base-compiler"] == "3.13.0"
    on_disk = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert sorted(data["files"]) == on_disk == [
        "ir/00-linalg.mlir",
        "ir/01-annotated.mlir",
        "ir/02-kernels.mlir",
        "ir/03-iree-input.mlir",
        "ir/04-iree-handoff.mlir",
        "model.vmfb",
    ]
    for name, digest in data["files"].items():
        assert digest == hashlib.sha256((directory / name).read_bytes()).hexdigest()
    assert data["digest"] == content_digest(data)


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


def test_tampered_ir_dump_is_rejected_when_read(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    (directory / "ir" / "02-kernels.mlir").write_text("// edited\n")
    loaded = sparsile.load(directory)  # the dumps are checked when read
    assert "linalg" in loaded.ir("linalg")
    with pytest.raises(ArtifactError, match=r"02-kernels.mlir does not match the sha256"):
        loaded.ir("kernels")


def test_edited_manifest_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    _rewrite_manifest(directory, lambda d: d["inputs"][0].update(shape=[5, 64]), resign=False)
    with pytest.raises(ArtifactError, match="manifest.json was modified after sparsile wrote it"):
        sparsile.load(directory)


def test_resigned_manifest_with_an_extra_output_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)

    def add_output(data):
        data["outputs"].append({"name": "output1", "shape": [4, 32], "dtype": "float32"})
        data["output_structure"] = {"type": "tuple", "items": [{"type": "leaf"}, {"type": "leaf"}]}

    _rewrite_manifest(directory, add_output, resign=True)
    with pytest.raises(ArtifactError, match=r"the manifest lists 2 output\(s\) but model.vmfb's @main has 1"):
        sparsile.load(directory)


def test_resigned_manifest_with_a_changed_shape_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    _rewrite_manifest(directory, lambda d: d["inputs"][0].update(shape=[5, 64]), resign=True)
    with pytest.raises(ArtifactError, match=r"input 0 \(x\) is float32\[5, 64\] in the manifest but float32\[4, 64\] in model.vmfb"):
        sparsile.load(directory)


def test_output_structure_must_match_the_outputs(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    two = {"type": "tuple", "items": [{"type": "leaf"}, {"type": "leaf"}]}
    _rewrite_manifest(directory, lambda d: d.update(output_structure=two), resign=True)
    with pytest.raises(ArtifactError, match=r"output structure holds 2 result\(s\) but it lists 1 output\(s\)"):
        sparsile.load(directory)


def test_files_outside_the_artifact_are_refused(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    _rewrite_manifest(directory, lambda d: d["files"].update({"../../etc/passwd": "0" * 64}), resign=True)
    with pytest.raises(ArtifactError, match="lists a file '../../etc/passwd' that is not a plain path inside the artifact"):
        sparsile.load(directory)


def test_loading_imports_nothing_the_manifest_names(saved, tmp_path):
    """A manifest naming a module shipped in the artifact loads and runs without importing it."""
    directory = _copy(saved[3], tmp_path)
    marker = tmp_path / "code-ran"
    (directory / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")

    def name_the_module(data):
        data["output_structure"] = {"type": "record", "class": "evil.Output", "keys": ["logits"], "items": [{"type": "leaf"}]}
        data["files"]["evil.py"] = hashlib.sha256((directory / "evil.py").read_bytes()).hexdigest()

    _rewrite_manifest(directory, name_the_module, resign=True)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import sparsile
        sys.path.insert(0, {str(directory)!r})  # as if the user's working directory were the artifact
        model = sparsile.load({str(directory)!r})
        out = model(np.ones((4, 64), np.float32))
        assert type(out).__name__ == "OutputRecord" and out.logits.shape == (4, 32), out
        assert out["logits"] is out[0] is out.logits
        assert "evil" not in sys.modules
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=directory)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert not marker.exists()


def test_save_onto_a_file_is_an_error(saved, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not an artifact")
    with pytest.raises(ArtifactError, match=r"cannot save the artifact to .*taken: it exists and is not a directory"):
        saved[2].save(target)
    assert target.read_text() == "not an artifact"


def test_damaged_manifest_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    manifest = directory / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(ArtifactError, match="manifest.json is not valid JSON"):
        sparsile.load(directory)


def test_manifest_missing_field_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    _rewrite_manifest(directory, lambda d: d.pop("inputs"), resign=True)
    with pytest.raises(ArtifactError, match="missing or has malformed fields"):
        sparsile.load(directory)


def test_missing_files_are_rejected(saved, tmp_path):
    with pytest.raises(ArtifactError, match="is not an artifact directory"):
        sparsile.load(tmp_path / "nope")
    directory = _copy(saved[3], tmp_path)
    (directory / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="has no manifest.json"):
        sparsile.load(directory)
    directory = _copy(saved[3], tmp_path / "again")
    (directory / "model.vmfb").unlink()
    with pytest.raises(ArtifactError, match=r"model.vmfb cannot be read .*the artifact is incomplete"):
        sparsile.load(directory)


def test_newer_format_version_is_rejected(saved, tmp_path):
    directory = _copy(saved[3], tmp_path)
    _rewrite_manifest(directory, lambda d: d.update(format_version=99), resign=True)
    with pytest.raises(ArtifactError, match="format_version 99; this sparsile reads version 2"):
        sparsile.load(directory)


LIGHT = textwrap.dedent(
    """
    import sys, time
    started = time.perf_counter()
    import sparsile.runtime
    imported = time.perf_counter() - started
    import numpy as np
    model = sparsile.runtime.load(sys.argv[1])
    y = model(np.ones((4, 64), np.float32))
    assert isinstance(y, np.ndarray) and y.shape == (4, 32)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torch_mlir", "sympy", "transformers") or m.startswith("iree.compiler"))
    print(heavy)
    """
)


def test_the_runtime_needs_only_numpy_and_iree_runtime(saved):
    result = subprocess.run([sys.executable, "-c", LIGHT, str(saved[3])], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_import_sparsile_is_light():
    code = "import sys, sparsile; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torch_mlir', 'sympy', 'iree')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
