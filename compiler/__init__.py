"""sparsile: compile pruned PyTorch models to fast, deployable IREE artifacts.

>>> compiled = sparsile.compile(model, (x,), target="cpu")
>>> y = compiled(x)
>>> compiled.save("out/")            # model.vmfb + manifest.json + ir/
>>> sparsile.load("out/")(x)
"""

from __future__ import annotations

from .api import analyze, compile, load
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
from .sparsity_report import LayerReport, SparsityReport
from .stages import STAGES
from .targets import TARGET_NAMES, Target, resolve_target
from .versions import __version__

__all__ = [
    "ArgumentError",
    "LayerReport",
    "SparsityReport",
    "analyze",
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
