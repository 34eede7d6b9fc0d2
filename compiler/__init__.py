"""sparsile: compile pruned PyTorch models to fast, deployable IREE artifacts.

>>> compiled = sparsile.compile(model, (x,), target="cpu")
>>> y = compiled(x)
>>> compiled.save("out/")            # model.vmfb + manifest.json + ir/
>>> sparsile.load("out/")(x)         # needs only numpy and iree.runtime
>>> gen = sparsile.compile_causal_lm(hf_model, max_seq_len=256)   # a Hugging Face decoder
>>> gen.generate(input_ids, max_new_tokens=32)                      # HF's greedy tokens

Importing the package is cheap: the compiler stack (torch, torch-mlir, IREE's
compiler, sympy) is imported on first use of :func:`compile` or :func:`analyze`,
and :func:`load` needs only the IREE runtime and numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ArgumentError,
    ArtifactError,
    CacheWarning,
    CostModelWarning,
    MLIRParseError,
    ModelImportError,
    ModelSpecError,
    PassOptionError,
    PipelineError,
    RuntimeLoadError,
    SparsileError,
    UnknownChipError,
    UnknownPassError,
    UnknownStageError,
    UnknownTargetError,
    UnsupportedOpError,
)
from .versions import __version__

# name -> module that defines it; each is imported on first access.
_LAZY = {
    "compile": "api",
    "analyze": "api",
    "lower": "api",
    "compile_causal_lm": "causal_lm",
    "load": "runtime",
    "CompiledModel": "compiled_model",
    "CompileOptions": "options",
    "LayerReport": "report",
    "SparsityReport": "report",
    "STAGES": "stages",
    "TARGET_NAMES": "targets",
    "Target": "targets",
    "resolve_target": "targets",
}

if TYPE_CHECKING:
    from .api import analyze, compile, lower
    from .causal_lm import compile_causal_lm
    from .compiled_model import CompiledModel
    from .options import CompileOptions
    from .report import LayerReport, SparsityReport
    from .runtime import load
    from .stages import STAGES
    from .targets import TARGET_NAMES, Target, resolve_target


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sparsile' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ArgumentError",
    "ArtifactError",
    "CacheWarning",
    "CompileOptions",
    "CompiledModel",
    "CostModelWarning",
    "LayerReport",
    "MLIRParseError",
    "ModelImportError",
    "ModelSpecError",
    "PassOptionError",
    "PipelineError",
    "RuntimeLoadError",
    "STAGES",
    "SparsileError",
    "SparsityReport",
    "TARGET_NAMES",
    "Target",
    "UnknownChipError",
    "UnknownPassError",
    "UnknownStageError",
    "UnknownTargetError",
    "UnsupportedOpError",
    "__version__",
    "analyze",
    "compile",
    "compile_causal_lm",
    "load",
    "lower",
    "resolve_target",
]
