"""The stages of a compile, as one table per target family.

``linalg`` is what the importer produces (or an ``.mlir`` file holds);
``annotated`` carries sparse encodings on weights; ``kernels`` holds
``sparsile.matmul`` ops with their chosen storage; ``iree-input`` is dense-layout IR
in upstream dialects; ``iree-handoff`` is exactly what iree-compile receives (the
hand-written kernels materialised as ``stream.executable`` + ``flow.dispatch`` in
IREE's own bindings); ``vmfb`` is IREE's output. The ``native-cpu`` target ends
differently: ``native-input`` is sparse linalg for MLIR's sparsifier and ``llvm`` the
LLVM-dialect module the ExecutionEngine runs. A compile may start from IR of any
stage but the last.

Each row names a stage and how it is produced: a pipeline of passes
(:mod:`sparsile.passes.pipelines`), the hand-off, or iree-compile. This module is
data; the driver runs the rows in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import UnknownStageError
from .passes import pipelines

if TYPE_CHECKING:
    from .options import CompileOptions
    from .passes.registry import PipelineElement


@dataclass(frozen=True)
class Stage:
    """One row: the stage's name and what produces its IR.

    ``kind`` is ``passes`` (``pipeline`` builds the passes from the compile's
    options), ``handoff`` (IR into IREE's bindings) or ``iree-compile``. ``reports``:
    the sparsity report is read off this stage's IR. ``payload``: this stage's module
    is the artifact's payload (its input fixes the entry signature).
    """

    name: str
    kind: str = "passes"
    pipeline: Callable[[CompileOptions], list[PipelineElement]] | None = None
    reports: bool = False
    payload: bool = False


LINALG = Stage("linalg", kind="import")
_FRONT = (
    LINALG,
    Stage("annotated", pipeline=pipelines.annotate, reports=True),
    Stage("kernels", pipeline=pipelines.kernels, reports=True),
)
_IREE = (
    *_FRONT,
    Stage("iree-input", pipeline=pipelines.iree_input),
    Stage("iree-handoff", kind="handoff"),
    Stage("vmfb", kind="iree-compile"),
)
_NATIVE = (
    *_FRONT,
    Stage("native-input", pipeline=pipelines.native_input),
    Stage("llvm", pipeline=pipelines.llvm, payload=True),
)

#: Stage table per target family (``Target.family``).
TABLES: dict[str, tuple[Stage, ...]] = {"cpu": _IREE, "gpu": _IREE, "vulkan": _IREE, "native": _NATIVE}

STAGES: tuple[str, ...] = tuple(s.name for s in _IREE)
NATIVE_STAGES: tuple[str, ...] = tuple(s.name for s in _NATIVE)
ALL_STAGES: tuple[str, ...] = (*STAGES, *NATIVE_STAGES[len(_FRONT):])
#: Stages whose IR is MLIR text a compile can start from or a dump holds.
MLIR_STAGES: tuple[str, ...] = tuple(s for s in ALL_STAGES if s != "vmfb")


def normalize_stage(name: str) -> str:
    """The canonical stage name (``"IREE_INPUT"`` -> ``"iree-input"``)."""
    canonical = name.strip().lower().replace("_", "-")
    if canonical not in ALL_STAGES:
        raise UnknownStageError(name, ALL_STAGES)
    return canonical


def stage_table(family: str) -> tuple[Stage, ...]:
    """The stages of a compile for a target family."""
    return TABLES[family]


def stages_after(start: str, family: str) -> tuple[Stage, ...]:
    """The stages a compile runs when its input is IR of stage ``start``."""
    table = stage_table(family)
    names = [s.name for s in table]
    start = normalize_stage(start)
    if start not in names:
        raise UnknownStageError(start, names)
    return table[names.index(start) + 1 :]


def dump_name(stage: str) -> str:
    """The file a stage's IR is dumped to: ``NN-<stage>.mlir``."""
    names = NATIVE_STAGES if stage in NATIVE_STAGES[len(_FRONT):] else STAGES
    return f"{names.index(stage):02d}-{stage}.mlir"
