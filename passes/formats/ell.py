"""``ell``: any pattern as ELLPACK rows, a gathering contraction on the GPU and Vulkan targets.

The storage of unstructured and block weights on ``gpu`` and ``vulkan`` wherever no
format of their own stores them in fewer bytes (N:M weights go to ``nmell``, blocks
to ``bell``): every output row holds ``width`` slots (the most nonzeros any row has),
``values [N, width]`` and ``cols [N, width]`` (16-bit, read unsigned, where K allows);
empty slots hold 0. The lowering
(:func:`sparsile.passes.gather_kernels.gathered_rows_matmul`) reads the slots in
order, so a warp's threads read consecutive slots of a row (coalesced), and gathers
the activation columns they name. A weight whose rows are very uneven pays for the
longest row, which its cost says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import gather_column_bits, pack_rows, read_columns, row_width, unpack_rows
from ..epilogue_ir import epilogue
from ..gather_kernels import gathered_rows_matmul
from .base import GPU_FAMILIES, Plan, StorageFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel

class EllFormat(StorageFormat):
    """A fixed number of (value, column) slots per output row."""

    name = "ell"
    targets = GPU_FAMILIES
    kernels = ("gather",)

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind in (PatternKind.CSR, PatternKind.NM, PatternKind.BSR)

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target not in self.targets or weight.dtype != np.float32:
            return None
        return Plan({"width": row_width(weight), "col_bits": gather_column_bits(weight.shape[1], rows, target)})

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "cols")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return pack_rows(weight, int(params["width"]), int(params["col_bits"]))

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return unpack_rows(storage["values"], storage["cols"], shape)

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        slots = [kernel.out_features, int(kernel.params["width"])]
        return [("values", slots, ("f32",)), ("cols", slots, (f"i{kernel.params['col_bits']}",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        width, bits = kernel.params.get("width"), kernel.params.get("col_bits")
        if not isinstance(width, int) or width <= 0 or bits not in (16, 32):
            return f"with format '{self.name}' needs params width > 0 and col_bits 16 or 32, got {kernel.params}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        cols = read_columns(storage["cols"])
        if np.any(cols < 0) or np.any(cols >= shape[1]):
            return f"storage 'cols' holds a column beyond in_features = {shape[1]}"
        return None

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        storage = kernel.storage_values
        acc = gathered_rows_matmul(kernel.input, storage["values"], storage["cols"])
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def describe(self, params: dict[str, Any]) -> str:
        return f"ELL, {params.get('width')} slots per row, {params.get('col_bits')}-bit columns"


FORMAT = EllFormat()
