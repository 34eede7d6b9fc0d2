"""``dense``: the whole ``[out, in]`` weight, multiplied by an ordinary matmul.

The storage of every weight between ``form-kernels`` and ``schedule``, and the
dense fallback after it. It lowers on every target the way the importer writes a
linear layer (a transposed ``[out, in]`` constant into ``linalg.matmul``), which is
the form IREE compiles best; the reference lowering of every other format is this
one applied to the unpacked weight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern
from ...mlir import ir
from ..epilogue_ir import epilogue
from ..ir_build import matmul, transpose
from .base import GPU_FAMILIES, TARGET_FAMILIES, Plan, StorageFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel

FLOAT_TYPES = ("f16", "bf16", "f32", "f64")


def dense_matmul(kernel: Kernel, weight: ir.Value) -> ir.Value:
    """``kernel``'s computation with ``weight`` (an ``[out, in]`` tensor) as a matmul plus the epilogue."""
    acc = matmul(kernel.input, transpose(weight, [1, 0]))
    return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)


class DenseFormat(StorageFormat):
    """Every value of the weight."""

    name = "dense"
    targets = frozenset(TARGET_FAMILIES)
    kernels = ("matmul", "gpu_matmul")

    def holds(self, pattern: Pattern) -> bool:
        return True

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        return Plan(kernel="gpu_matmul" if target in GPU_FAMILIES else "")

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values",)

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return {"values": np.ascontiguousarray(weight)}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return np.asarray(storage["values"])

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        return [("values", list(kernel.shape), FLOAT_TYPES)]

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        return dense_matmul(kernel, kernel.storage_values["values"])


FORMAT = DenseFormat()
