"""The named stages of a compile, in order.

``linalg`` is what the importer produces (or an ``.mlir`` file holds);
``annotated`` carries sparse encodings on weights; ``kernels`` holds ``sparsile.*``
kernel ops; ``iree-input`` is dense-layout IR only; ``vmfb`` is IREE's output.
The ``native-cpu`` target ends differently: ``native-input`` is sparse linalg for
MLIR's sparsifier and ``llvm`` the LLVM-dialect module the ExecutionEngine runs.
A compile may start from IR of any MLIR stage.
"""

from __future__ import annotations

from .errors import UnknownStageError

STAGES: tuple[str, ...] = ("linalg", "annotated", "kernels", "iree-input", "vmfb")
NATIVE_STAGES: tuple[str, ...] = ("linalg", "annotated", "kernels", "native-input", "llvm")
MLIR_STAGES: tuple[str, ...] = (*STAGES[:-1], "native-input", "llvm")
ALL_STAGES: tuple[str, ...] = (*STAGES, "native-input", "llvm")


def normalize_stage(name: str) -> str:
    """The canonical stage name (``"IREE_INPUT"`` -> ``"iree-input"``)."""
    canonical = name.strip().lower().replace("_", "-")
    if canonical not in ALL_STAGES:
        raise UnknownStageError(name, ALL_STAGES)
    return canonical


def stages_of(native: bool) -> tuple[str, ...]:
    """The stages of a compile for an IREE target or for ``native-cpu``."""
    return NATIVE_STAGES if native else STAGES


def stages_after(start: str, native: bool = False) -> tuple[str, ...]:
    """The stages a compile runs when its input is IR of stage ``start``."""
    stages = stages_of(native)
    start = normalize_stage(start)
    if start not in stages:
        raise UnknownStageError(start, stages)
    return stages[stages.index(start) + 1 :]


def dump_name(stage: str) -> str:
    """The file a stage's IR is dumped to: ``NN-<stage>.mlir``."""
    stages = NATIVE_STAGES if stage in NATIVE_STAGES[3:] else STAGES
    return f"{stages.index(stage):02d}-{stage}.mlir"
