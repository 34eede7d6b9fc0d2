"""``nmell``: N:M weights as ELLPACK rows whose columns are 8-bit places in their groups, on GPU and Vulkan.

The storage of N:M weights (1:4, 2:8, 2:4, 4:8) on ``gpu`` and ``vulkan``: every
output row holds ``n`` slots per group of ``m`` columns, ``values [N, K/m*n]`` and
``positions [N, K/m*n]`` (i8, the place of each kept value inside its group,
rising within a group), so slot ``s`` multiplies column ``(s // n) * m +
positions[s]``. Values are stored in the weight's float type (f32, f16, bf16) or,
quantized (``params["quant"]``, :mod:`sparsile.passes.slot_values`), as int8 with
``scales [N]`` (applied by the epilogue) or as int4 ``values [N, K/m*n/2]`` (two
slots per byte; an odd number of slots per row is not stored) with
``scales [N, ceil(K/128)]`` (applied in the contraction by the value's column); on Vulkan
values narrower than 32 bits are held in 32-bit words (a row's slots must fill whole words). A 2:4
fp32 weight costs 4 + 1 bytes per kept value, 0.625 of dense (``ell`` needs 2 or 4
bytes of column per value, 0.75 or 1.0); fp16 2 + 1, 0.75 of dense fp16; int8 1 + 1,
as much as dense int8; int4 0.5 + 1, 1.5 times dense int4 (the places, not the
values, are then most of the bytes). The lowering is ``ell``'s gathering contraction
(:func:`sparsile.passes.gather_kernels.gathered_rows_matmul`) with the column
computed from the slot and its place, accumulating in float32; one input row is a
GEMV, at one row on Vulkan too (IREE's SPIR-V code reads the 8-bit places right at
any row count, where it misreads 16-bit columns at one row).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import group_slots, pack_groups, unpack_groups
from ..epilogue_ir import kernel_epilogue
from ..gather_kernels import gathered_rows_matmul
from ..kernel_values import Quantization, as_float32, is_float_storage
from ..slot_values import (
    SlotValues,
    describe_values,
    expected_values,
    pack_values,
    scales_problem,
    slot_lanes,
    stored_values,
    unpack_values,
    value_params,
    values_problem,
)
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
        if target not in self.targets or not is_float_storage(weight) or not self.holds(pattern) or weight.shape[1] % pattern.m:
            return None
        return _whole_elements(Plan(value_params({"n": pattern.n, "m": pattern.m}, target, dtype=weight.dtype)), weight.shape[1])

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        return _whole_elements(Plan(value_params(plan.params, target, quant), plan.tiles, plan.rows, plan.kernel), weight_shape[1])

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "positions", "scales") if params.get("quant") else ("values", "positions")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return pack_values(weight, params, lambda w: pack_groups(w, int(params["n"]), int(params["m"])))

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return unpack_values(storage, params, lambda s: unpack_groups(s["values"], s["positions"], int(params["n"]), int(params["m"]), shape))

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        slots = [kernel.out_features, group_slots(kernel.in_features, int(kernel.params["n"]), int(kernel.params["m"]))]
        values, *scales = expected_values(kernel.params, slots, kernel.shape)
        return [values, ("positions", slots, ("i8",)), *scales]

    def storage_problem(self, kernel: Kernel) -> str | None:
        n, m = kernel.params.get("n"), kernel.params.get("m")
        if not (isinstance(n, int) and isinstance(m, int) and 0 < n < m <= MAX_GROUP):
            return f"with format 'nmell' needs params n and m with 0 < n < m <= {MAX_GROUP}, got {kernel.params}"
        if kernel.in_features % m:
            return f"with format 'nmell' needs in_features ({kernel.in_features}) to be a multiple of m = {m}"
        problem = values_problem(kernel.params, group_slots(kernel.in_features, n, m))
        if problem is not None:
            return f"with format 'nmell': {problem}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        n, m = int(params["n"]), int(params["m"])
        places = storage["positions"].astype(np.int64).reshape(shape[0], -1, n)
        if np.any(places < 0) or np.any(places >= m) or np.any(np.diff(places, axis=2) <= 0):
            return f"storage 'positions' must hold {n} rising places in 0..{m - 1} per group of {m}"
        return scales_problem(storage)

    def stored_values(self, storage: dict[str, np.ndarray], params: dict[str, Any]) -> int:
        return stored_values(storage, params)

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        group = (int(kernel.params["n"]), int(kernel.params["m"]))
        acc = gathered_rows_matmul(as_float32(kernel.input), SlotValues.of(kernel), kernel.storage_values["positions"], group)
        return kernel_epilogue(kernel, acc)

    def describe(self, params: dict[str, Any]) -> str:
        return f"{params.get('n')}:{params.get('m')} slots{describe_values(params)}, 8-bit places in their groups"


def _whole_elements(plan: Plan, in_features: int) -> Plan | None:
    """``plan``, or None where a row's slots do not fill whole stored elements (a padding slot would
    name a column beyond the weight)."""
    slots = group_slots(in_features, int(plan.params["n"]), int(plan.params["m"]))
    return None if slots % slot_lanes(plan.params) else plan


FORMAT = NmEllFormat()
