"""sparsile: compile pruned PyTorch models to fast, deployable IREE artifacts.

>>> compiled = sparsile.compile(model, (x,), target="cpu")
>>> y = compiled(x)
>>> compiled.save("out/")            # model.vmfb + manifest.json + ir/
>>> sparsile.load("out/")(x)
"""

from __future__ import annotations

from .api import compile, load
from .compiled_model import CompiledModel
from .errors import (
    ArgumentError,
    ArtifactError,
    MLIRParseError,
    ModelImportError,
    ModelSpecError,
    PassOptionError,
    PipelineError,
    RuntimeLoadError,
    SparsileError,
    UnknownPassError,
    UnknownStageError,
    UnknownTargetError,
    UnsupportedOpError,
)
from .options import CompileOptions
from .stages import STAGES
from .targets import TARGET_NAMES, Target, resolve_target
from .versions import __version__

__all__ = [
    "ArgumentError",
    "ArtifactError",
    "CompileOptions",
    "CompiledModel",
    "MLIRParseError",
    "ModelImportError",
    "ModelSpecError",
    "PassOptionError",
    "PipelineError",
    "RuntimeLoadError",
    "STAGES",
    "SparsileError",
    "TARGET_NAMES",
    "Target",
    "UnknownPassError",
    "UnknownStageError",
    "UnknownTargetError",
    "UnsupportedOpError",
    "__version__",
    "compile",
    "load",
    "resolve_target",
]
