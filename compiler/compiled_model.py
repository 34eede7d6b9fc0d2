"""CompiledModel: a freshly compiled artifact in memory, callable like the torch model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .manifest import Manifest
from .runtime import IR_DIR, LoadedModel, write_artifact
from .runtime.causal_lm import CausalLM
from .runtime.loaded_model import StageText
from .stages import dump_name


class CompiledModel(LoadedModel):
    """A compiled model: call it with torch tensors or numpy arrays and get the same kind back.

    ``manifest`` describes it, ``ir(stage)`` shows the IR of every stage the compile
    ran, ``report`` is the per-layer sparsity report and ``save(dir)`` writes a
    deployable artifact directory that ``sparsile.load`` (or ``sparsile.runtime.load``)
    reads back. Weights compiled into a parameter archive stay in a file
    (``parameter_files``) until ``save`` copies it into the artifact.
    """

    def __init__(self, payload: bytes, manifest: Manifest, stage_ir: Mapping[str, StageText],
                 parameters: Mapping[str, Path] | None = None, keep_alive: Any = None):
        super().__init__(payload, manifest, stage_ir, parameters)
        # The owner of a fresh compile's archive directory (removed when this model is collected).
        self._keep_alive = keep_alive

    @classmethod
    def class_for(cls, manifest: Manifest) -> type[LoadedModel]:
        return CompiledCausalLM if manifest.generation is not None else cls

    def save(self, directory: str | os.PathLike[str], *, include_ir: bool = True) -> Path:
        """Write the payload (``model.vmfb``), any parameter archive, ``ir/`` (optionally) and ``manifest.json`` into ``directory``.

        An existing artifact there is replaced; a path that exists and is not a
        directory is an :class:`~sparsile.ArtifactError`.
        """
        files: dict[str, bytes | Path] = {self.manifest.payload: self.payload}
        for scope, name in self.manifest.parameters.items():
            files[name] = self._parameters[scope]
        if include_ir:
            for stage in self._stage_ir:
                files[f"{IR_DIR}/{dump_name(stage)}"] = self.ir(stage).encode()
        return write_artifact(directory, self.manifest, files)

    def write_object(self, path: str | os.PathLike[str]) -> Path:
        """``native-cpu`` only: write the JIT-compiled code as an object file (C interface ``_mlir_ciface_<entry>``)."""
        if not self.is_native:
            raise AttributeError("write_object() is for native-cpu artifacts; an IREE artifact's code is its .vmfb")
        return self.runtime_module().write_object(path)


class CompiledCausalLM(CompiledModel, CausalLM):
    """A causal LM fresh from :func:`sparsile.compile_causal_lm`: ``generate`` it, or ``save`` it."""
