"""``bell``: block weights as blocked ELLPACK, a gathering block contraction on GPU and Vulkan.

The storage of ``bsr<B>`` weights on ``gpu`` and ``vulkan``: every block row of B
output rows holds ``width`` blocks (the most nonzero blocks any block row has),
stored as ``values [N/B, B, width*B]`` (row ``r`` of the block row, then its slots) and
``cols [N/B, width*B]`` (the column of each slot, shared by the block row's B rows);
empty slots are zero blocks. The lowering
(:func:`sparsile.passes.gather_kernels.gathered_blocks_matmul`) gathers each
activation once per block row and reuses it across the block's B rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import block_width, gather_column_bits, pack_blocks, unpack_blocks
from ..epilogue_ir import epilogue
from ..gather_kernels import gathered_blocks_matmul
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
        return Plan({"block": b, "width": block_width(weight, b), "col_bits": gather_column_bits(weight.shape[1], rows, target)})

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
        acc = gathered_blocks_matmul(kernel.input, storage["values"], storage["cols"])
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def describe(self, params: dict[str, Any]) -> str:
        b = params.get("block")
        return f"blocked ELL, {b}x{b} blocks, {params.get('width')} slots per block row"


FORMAT = BlockEllFormat()
