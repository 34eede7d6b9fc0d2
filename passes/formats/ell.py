"""``ell``: any pattern as ELLPACK rows, a gathering contraction on the GPU and Vulkan targets.

The storage of unstructured and block weights on ``gpu`` and ``vulkan`` wherever no
format of their own stores them in fewer bytes (N:M weights go to ``nmell``, blocks
to ``bell``): every output row holds ``width`` slots (the most nonzeros any row has),
``values [N, width]`` and ``cols [N, width]`` (16-bit, read unsigned, where K allows);
empty slots hold 0. Values are stored in the weight's float type (f32, f16, bf16) or,
quantized (``params["quant"]``, :mod:`sparsile.passes.slot_values`), as int8
``values [N, width]`` with ``scales [N]`` (one per output row, applied by the
epilogue), or as int4 ``values [N, width/2]`` (two slots per byte, ``width`` even)
with ``scales [N, ceil(K/128)]`` (one per 128 input columns, applied in the
contraction by the value's column); on Vulkan values narrower than 32 bits are held in
32-bit words (``params["word_values"]``, ``width`` a multiple of the values per word). The lowering
(:func:`sparsile.passes.gather_kernels.gathered_rows_matmul`) reads the slots in
order, so a warp's threads read consecutive slots of a row (coalesced), and gathers
the activation columns they name; it accumulates in float32. A weight whose rows are
very uneven pays for the longest row, which its cost says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import gather_column_bits, pack_rows, read_columns, row_width, unpack_rows
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

class EllFormat(StorageFormat):
    """A fixed number of (value, column) slots per output row."""

    name = "ell"
    targets = GPU_FAMILIES
    kernels: ClassVar[tuple[str, ...]] = ("gather",)

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind in (PatternKind.CSR, PatternKind.NM, PatternKind.BSR)

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target not in self.targets or not is_float_storage(weight):
            return None
        params = {"width": row_width(weight), "col_bits": gather_column_bits(weight.shape[1], rows, target)}
        return Plan(_whole_elements(value_params(params, target, dtype=weight.dtype)))

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        return Plan(_whole_elements(value_params(plan.params, target, quant)), plan.tiles, plan.rows, plan.kernel)

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "cols", "scales") if params.get("quant") else ("values", "cols")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return pack_values(weight, params, lambda w: pack_rows(w, int(params["width"]), int(params["col_bits"])))

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return unpack_values(storage, params, lambda s: unpack_rows(s["values"], s["cols"], shape))

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        slots = [kernel.out_features, int(kernel.params["width"])]
        values, *scales = expected_values(kernel.params, slots, kernel.shape)
        return [values, ("cols", slots, (f"i{kernel.params['col_bits']}",)), *scales]

    def storage_problem(self, kernel: Kernel) -> str | None:
        width, bits = kernel.params.get("width"), kernel.params.get("col_bits")
        if not isinstance(width, int) or width <= 0 or bits not in (16, 32):
            return f"with format '{self.name}' needs params width > 0 and col_bits 16 or 32, got {kernel.params}"
        problem = values_problem(kernel.params, self.row_slots(kernel))
        if problem is not None:
            return f"with format '{self.name}': {problem}"
        return super().storage_problem(kernel)

    def row_slots(self, kernel: Kernel) -> int:
        """The slots each row of the storage holds."""
        return int(kernel.params["width"])

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        cols = read_columns(storage["cols"])
        if np.any(cols < 0) or np.any(cols >= shape[1]):
            return f"storage 'cols' holds a column beyond in_features = {shape[1]}"
        return scales_problem(storage)

    def stored_values(self, storage: dict[str, np.ndarray], params: dict[str, Any]) -> int:
        return stored_values(storage, params)

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        acc = gathered_rows_matmul(as_float32(kernel.input), SlotValues.of(kernel), kernel.storage_values["cols"])
        return kernel_epilogue(kernel, acc)

    def describe(self, params: dict[str, Any]) -> str:
        return f"ELL{describe_values(params)}, {params.get('width')} slots per row, {params.get('col_bits')}-bit columns"


def _whole_elements(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the width rounded up to whole stored elements (the extra slots are empty)."""
    lanes = slot_lanes(params)
    return {**params, "width": -(-int(params["width"]) // lanes) * lanes}


FORMAT = EllFormat()
