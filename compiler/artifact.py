"""Loading artifact directories written by :meth:`CompiledModel.save`."""

from __future__ import annotations

import os
from pathlib import Path

from .compiled_model import IR_DIR, MANIFEST_NAME, NATIVE_NAME, VMFB_NAME, CompiledModel
from .errors import ArtifactError
from .manifest import Manifest, sha256_hex
from .output_tree import OutputTree
from .stages import MLIR_STAGES, dump_name


def load(directory: str | os.PathLike[str], output_tree: OutputTree | None = None) -> CompiledModel:
    """Load an artifact directory, verifying its manifest and the sha256 of its ``.vmfb``.

    ``output_tree`` replaces the manifest's output structure (the importer's is exact
    even for classes that do not serialise).
    """
    path = Path(directory)
    if not path.is_dir():
        raise ArtifactError(f"{path} is not an artifact directory (it does not exist or is a file)")
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactError(f"{path} has no {MANIFEST_NAME}; it is not a sparsile artifact or was not saved completely")
    manifest = Manifest.from_json(manifest_path.read_text(errors="replace"), str(manifest_path))
    if manifest.payload not in (VMFB_NAME, NATIVE_NAME):
        raise ArtifactError(f"{manifest_path} names an unknown payload file {manifest.payload!r}")
    vmfb_path = path / manifest.payload
    if not vmfb_path.is_file():
        raise ArtifactError(f"{path} has no {manifest.payload}; the artifact is incomplete")
    vmfb = vmfb_path.read_bytes()
    digest = sha256_hex(vmfb)
    if digest != manifest.vmfb_sha256:
        raise ArtifactError(
            f"{vmfb_path} does not match the sha256 in {MANIFEST_NAME} "
            f"({len(vmfb)} bytes, sha256 {digest[:12]}…, expected {manifest.vmfb_sha256[:12]}…): "
            "the file was truncated or modified; recompile or copy the artifact again"
        )
    stage_ir = {
        stage: path / IR_DIR / dump_name(stage)
        for stage in MLIR_STAGES
        if (path / IR_DIR / dump_name(stage)).is_file()
    }
    return CompiledModel(vmfb, manifest, stage_ir, output_tree or OutputTree.from_json(manifest.output_tree))
