"""``bell``: block weights as blocked ELLPACK, gathered column blocks times dense blocks on GPU and Vulkan.

The storage of ``bsr<B>`` weights on ``gpu`` and ``vulkan``: every block row of B
output rows holds ``width`` blocks (the most nonzero blocks any block row has),
stored as ``values [N/B, B, width*B]`` (row ``r`` of the block row, then its slots) and
``cols [N/B, width*B]`` (the column of each slot, shared by the block row's B rows);
empty slots are zero blocks. The lowering
(:func:`sparsile.passes.gather_kernels.block_rows_matmul`) copies each block row's
activation columns out of ``x`` once and multiplies them by the block row's dense
blocks in a ``linalg.batch_matmul`` over block rows (IREE fuses the copy into the
matmul's dispatch where the columns are 16-bit); one input row is a GEMV over the slots.
Columns are 32-bit on Vulkan (:func:`sparsile.passes.ell_storage.block_column_bits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import block_column_bits, block_width, pack_blocks, unpack_blocks
from ..epilogue_ir import epilogue
from ..gather_kernels import block_rows_matmul
from .base import Plan
from .ell import EllFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel


class BlockEllFormat(EllFormat):
    """A fixed number of BxB blocks per block row, their columns shared by the block's rows.

    The storage names and the check of the columns are ELL's: a block row's slots are columns.
    """

    name = "bell"

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind is PatternKind.BSR

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target not in self.targets or weight.dtype != np.float32:
            return None
        b = pattern.block
        return Plan({"block": b, "width": block_width(weight, b), "col_bits": block_column_bits(weight.shape[1], target)})

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return pack_blocks(weight, int(params["block"]), int(params["width"]), int(params["col_bits"]))

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return unpack_blocks(storage["values"], storage["cols"], shape)

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        b, width = int(kernel.params["block"]), int(kernel.params["width"])
        nb = kernel.out_features // b
        return [("values", [nb, b, width * b], ("f32",)), ("cols", [nb, width * b], (f"i{kernel.params['col_bits']}",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        b = kernel.params.get("block")
        rows, cols = kernel.shape
        if not isinstance(b, int) or b <= 0 or rows % b or cols % b:
            return f"with format 'bell' needs params block dividing the weight shape [{rows}, {cols}], got {kernel.params}"
        return super().storage_problem(kernel)

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        storage = kernel.storage_values
        acc = block_rows_matmul(kernel.input, storage["values"], storage["cols"])
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def describe(self, params: dict[str, Any]) -> str:
        b = params.get("block")
        return f"blocked ELL, {b}x{b} blocks, {params.get('width')} slots per block row"


FORMAT = BlockEllFormat()
