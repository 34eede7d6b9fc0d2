"""``nmell``: N:M weights as ELLPACK rows whose columns are 8-bit places in their groups, on GPU and Vulkan.

The storage of N:M weights (1:4, 2:8, 2:4, 4:8) on ``gpu`` and ``vulkan``: every
output row holds ``n`` slots per group of ``m`` columns, ``values [N, K/m*n]`` (f32)
and ``positions [N, K/m*n]`` (i8, the place of each kept value inside its group,
rising within a group), so slot ``s`` multiplies column ``(s // n) * m +
positions[s]``. A 2:4 fp32 weight costs 4 + 1 bytes per kept value, 0.625 of dense
(``ell`` needs 2 or 4 bytes of column per value, 0.75 or 1.0). The lowering is
``ell``'s gathering contraction
(:func:`sparsile.passes.gather_kernels.gathered_rows_matmul`) with the column
computed from the slot and its place; one input row is a GEMV, at one row on
Vulkan too (IREE's SPIR-V code reads the 8-bit places right at any row count, where
it misreads 16-bit columns at one row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import group_slots, pack_groups, unpack_groups
from ..epilogue_ir import epilogue
from ..gather_kernels import gathered_rows_matmul
from .base import GPU_FAMILIES, Plan, StorageFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel

#: The widest group an 8-bit place can name.
MAX_GROUP = 128


class NmEllFormat(StorageFormat):
    """``n`` (value, place) slots per group of ``m`` columns, in every output row."""

    name = "nmell"
    targets = GPU_FAMILIES
    kernels = ("gather",)

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind is PatternKind.NM and pattern.m <= MAX_GROUP

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target not in self.targets or weight.dtype != np.float32 or not self.holds(pattern) or weight.shape[1] % pattern.m:
            return None
        return Plan({"n": pattern.n, "m": pattern.m})

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "positions")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return pack_groups(weight, int(params["n"]), int(params["m"]))

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return unpack_groups(storage["values"], storage["positions"], int(params["n"]), int(params["m"]), shape)

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        slots = [kernel.out_features, group_slots(kernel.in_features, int(kernel.params["n"]), int(kernel.params["m"]))]
        return [("values", slots, ("f32",)), ("positions", slots, ("i8",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        n, m = kernel.params.get("n"), kernel.params.get("m")
        if not (isinstance(n, int) and isinstance(m, int) and 0 < n < m <= MAX_GROUP):
            return f"with format 'nmell' needs params n and m with 0 < n < m <= {MAX_GROUP}, got {kernel.params}"
        if kernel.in_features % m:
            return f"with format 'nmell' needs in_features ({kernel.in_features}) to be a multiple of m = {m}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        n, m = int(params["n"]), int(params["m"])
        places = storage["positions"].astype(np.int64).reshape(shape[0], -1, n)
        if np.any(places < 0) or np.any(places >= m) or np.any(np.diff(places, axis=2) <= 0):
            return f"storage 'positions' must hold {n} rising places in 0..{m - 1} per group of {m}"
        return None

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        storage = kernel.storage_values
        group = (int(kernel.params["n"]), int(kernel.params["m"]))
        acc = gathered_rows_matmul(kernel.input, storage["values"], storage["positions"], group)
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def describe(self, params: dict[str, Any]) -> str:
        return f"{params.get('n')}:{params.get('m')} slots, 8-bit places in their groups"


FORMAT = NmEllFormat()
