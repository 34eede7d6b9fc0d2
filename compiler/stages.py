"""The named stages of a compile, in order.

``linalg`` is what the importer produces (or an ``.mlir`` file holds);
``annotated`` carries sparse encodings on weights; ``kernels`` holds ``sparsile.*``
kernel ops; ``iree-input`` is dense-layout IR only; ``vmfb`` is IREE's output.
A compile may start from IR of any MLIR stage.
"""

from __future__ import annotations

from .errors import UnknownStageError

STAGES: tuple[str, ...] = ("linalg", "annotated", "kernels", "iree-input", "vmfb")
MLIR_STAGES: tuple[str, ...] = STAGES[:-1]


def normalize_stage(name: str) -> str:
    """The canonical stage name (``"IREE_INPUT"`` -> ``"iree-input"``)."""
    canonical = name.strip().lower().replace("_", "-")
    if canonical not in STAGES:
        raise UnknownStageError(name, STAGES)
    return canonical


def stages_after(start: str) -> tuple[str, ...]:
    """The stages a compile runs when its input is IR of stage ``start``."""
    return STAGES[STAGES.index(normalize_stage(start)) + 1 :]


def dump_name(stage: str) -> str:
    """The file a stage's IR is dumped to: ``NN-<stage>.mlir``."""
    return f"{STAGES.index(stage):02d}-{stage}.mlir"
