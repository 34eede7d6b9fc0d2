"""The exception hierarchy of sparsile.

Every error a user can cause has its own class and a message that says what was
wrong, where, and what to do instead. Internal tracebacks from the bindings are
suppressed at the API edge (``raise ... from None``) so the message is the story.
"""

from __future__ import annotations

from collections.abc import Iterable


class SparsileError(Exception):
    """Base class of every error sparsile raises on purpose."""


class UnknownTargetError(SparsileError, ValueError):
    """A target name that is not in the target table."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        super().__init__(f"unknown target {name!r}; expected one of: {', '.join(known)}")


class UnknownStageError(SparsileError, ValueError):
    """A stage name that is not one of the pipeline's stages."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        super().__init__(f"unknown stage {name!r}; expected one of: {', '.join(known)}")


class UnknownPassError(SparsileError, ValueError):
    """A pass name that is neither a sparsile pass nor an upstream MLIR pass."""

    def __init__(self, name: str, known: Iterable[str]):
        self.name = name
        super().__init__(
            f"unknown pass {name!r}; sparsile passes are: {', '.join(known)} "
            "(any upstream MLIR pass name is accepted too)"
        )


class UnknownChipError(SparsileError, ValueError):
    """A chip (CPU or GPU architecture) the target's compiler does not know."""


class PassOptionError(SparsileError, ValueError):
    """A pass option that does not exist or does not parse."""


class ModelSpecError(SparsileError, ValueError):
    """A MODEL argument (``file.py:factory`` or ``file.mlir``) that cannot be loaded."""


class ModelImportError(SparsileError):
    """torch.export or the torch-mlir importer could not turn the model into MLIR."""


class UnsupportedOpError(ModelImportError):
    """The model uses an operator that has no lowering to linalg."""

    def __init__(self, op: str, detail: str = ""):
        self.op = op
        msg = f"operator {op!r} is not supported: torch-mlir has no lowering of it to linalg"
        super().__init__(msg + (f"\n{detail}" if detail else ""))


class MLIRParseError(SparsileError, ValueError):
    """MLIR text or bytecode that does not parse or verify; ``diags`` holds the diagnostics."""

    def __init__(self, message: str, diags: list | None = None):
        self.diags = list(diags or [])
        super().__init__(message)


class PipelineError(SparsileError):
    """A pass (or IREE) failed while compiling a stage.

    The IR that went into the failing pass is written to ``ir_path`` and
    ``repro`` is the single command that reproduces the failure.
    """

    def __init__(
        self,
        stage: str,
        pass_name: str,
        diagnostics: str,
        ir_path: str | None = None,
        repro: str | None = None,
        diags: list | None = None,
    ):
        self.diags = list(diags or [])
        self.stage = stage
        self.pass_name = pass_name
        self.diagnostics = diagnostics
        self.ir_path = ir_path
        self.repro = repro
        lines = [f"stage '{stage}' failed in pass '{pass_name}':", diagnostics.rstrip()]
        if ir_path:
            lines.append(f"the IR given to '{pass_name}' was written to {ir_path}")
        if repro:
            lines.append(f"reproduce with: {repro}")
        super().__init__("\n".join(lines))


class ArgumentError(SparsileError, TypeError):
    """A compiled model was called with the wrong number, shape or dtype of arguments."""


class ArtifactError(SparsileError):
    """An artifact directory that is missing, truncated, tampered with or from an incompatible version."""


class RuntimeLoadError(SparsileError):
    """The IREE runtime could not load a module or create its device."""


class CacheWarning(UserWarning):
    """The artifact cache could not be used; the compile went on without it."""


class CostModelWarning(UserWarning):
    """The cost model in use was measured on a CPU unlike this one: its storage choices may not hold here."""


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the first caller outside the sparsile package."""
    import os
    import sys
    import types
    import warnings

    package = os.path.dirname(os.path.abspath(__file__))
    level = 2
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
