"""Running compiled sparsile artifacts: needs only numpy and the IREE runtime.

>>> model = sparsile.runtime.load("out/mlp")   # verifies the manifest and every file it reads
>>> y = model(x)                               # numpy in, numpy out (torch in, torch out)

Nothing here imports torch, torch-mlir or IREE's compiler (``native-cpu`` artifacts
are the exception: their JIT comes from torch-mlir).
"""

from __future__ import annotations

import os
from typing import TypeVar

from ..errors import ArtifactError
from .artifact_dir import MANIFEST_NAME, read_artifact, write_artifact
from .causal_lm import CausalLM
from .device_tensor import DeviceTensor
from .devices import get_device, release_all
from .loaded_model import IR_DIR, NATIVE_NAME, VMFB_NAME, LoadedModel

__all__ = ["IR_DIR", "MANIFEST_NAME", "NATIVE_NAME", "VMFB_NAME", "CausalLM", "DeviceTensor", "LoadedModel",
           "get_device", "load", "open_model", "release_all", "write_artifact"]


_Model = TypeVar("_Model", bound=LoadedModel)


def load(directory: str | os.PathLike[str]) -> LoadedModel:
    """Load an artifact directory written by ``CompiledModel.save``, ready to call.

    The manifest's digest and the sha256 of the payload and of any parameter archive
    are checked, and the manifest's inputs and outputs against the signature the
    ``.vmfb`` declares; the ``ir/`` dumps are checked when read. Any mismatch is an
    :class:`ArtifactError`. A causal LM's artifact loads as a :class:`CausalLM`.
    """
    return open_model(directory, LoadedModel)


def open_model(directory: str | os.PathLike[str], cls: type[_Model]) -> _Model:
    """:func:`load`, building an instance of ``cls.class_for(manifest)`` (``cls`` is a :class:`LoadedModel` subclass)."""
    from ..stages import MLIR_STAGES, dump_name

    files = read_artifact(directory)
    manifest = files.manifest
    if manifest.payload not in (VMFB_NAME, NATIVE_NAME):
        raise ArtifactError(f"{files.directory / MANIFEST_NAME} names an unknown payload file {manifest.payload!r}")
    payload = files.read(manifest.payload)
    parameters = {scope: files.verified_path(name) for scope, name in manifest.parameters.items()}
    stage_ir = {}
    for stage in MLIR_STAGES:
        name = f"{IR_DIR}/{dump_name(stage)}"
        if files.has(name):
            stage_ir[stage] = lambda name=name: files.read(name).decode()
    model = cls.class_for(manifest)(payload, manifest, stage_ir, parameters)
    model.check_signature()
    return model  # type: ignore[return-value]
