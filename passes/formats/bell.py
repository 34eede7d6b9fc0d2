"""``bell``: block weights as blocked ELLPACK, gathered column blocks times dense blocks on GPU and Vulkan.

The storage of ``bsr<B>`` weights on ``gpu`` and ``vulkan``: every block row of B
output rows holds ``width`` blocks (the most nonzero blocks any block row has),
stored as ``values [N/B, B, width*B]`` (row ``r`` of the block row, then its slots) and
``cols [N/B, width*B]`` (the column of each slot, shared by the block row's B rows);
empty slots are zero blocks. Values are stored in the weight's float type (f32, f16,
bf16) or, quantized (``params["quant"]``, :mod:`sparsile.passes.slot_values`), as int8
with ``scales [N]`` (applied by the epilogue) or as int4 ``values [N/B, B, width*B/2]``
(two slots per byte) with ``scales [N, ceil(K/128)]`` (looked up by each value's row
and column); on Vulkan values narrower than 32 bits are held in 32-bit words. The lowering
(:func:`sparsile.passes.gather_kernels.block_rows_matmul`) copies each block row's
activation columns out of ``x`` once and multiplies them by the block row's dense
blocks in a ``linalg.batch_matmul`` over block rows (IREE fuses the copy into the
matmul's dispatch where the columns are 16-bit; 16-bit float and int8 blocks are
widened by the matmul; int4 blocks and Vulkan's words are unpacked in a contraction with
the batch matmul's loops, the ``packed_blocks`` kernel); one input row is a GEMV over the
slots. Every product accumulates in float32.
Columns are 32-bit on Vulkan (:func:`sparsile.passes.ell_storage.block_column_bits`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..ell_storage import block_column_bits, block_width, pack_blocks, unpack_blocks
from ..epilogue_ir import kernel_epilogue
from ..gather_kernels import block_rows_matmul
from ..kernel_values import Quantization, as_float32, is_float_storage
from ..slot_values import SlotValues, describe_values, expected_values, pack_values, slot_lanes, unpack_values, value_params
from .base import Plan
from .ell import EllFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel


class BlockEllFormat(EllFormat):
    """A fixed number of BxB blocks per block row, their columns shared by the block's rows.

    The storage names and the check of the columns are ELL's: a block row's slots are columns.
    """

    name = "bell"
    #: ``gather``: the batch matmul (the GEMV at one row); ``packed_blocks``: the contraction that unpacks
    #: values sharing a stored element (int4, Vulkan's 32-bit words) at several rows.
    kernels = ("gather", "packed_blocks")

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind is PatternKind.BSR

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target not in self.targets or not is_float_storage(weight):
            return None
        b = pattern.block
        params = {"block": b, "width": block_width(weight, b), "col_bits": block_column_bits(weight.shape[1], target)}
        return _plan(_whole_elements(value_params(params, target, dtype=weight.dtype)), rows)

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        return _plan(_whole_elements(value_params(plan.params, target, quant)), rows)

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        return pack_values(weight, params, lambda w: pack_blocks(w, int(params["block"]), int(params["width"]), int(params["col_bits"])))

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return unpack_values(storage, params, lambda s: unpack_blocks(s["values"], s["cols"], shape))

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        b, width = int(kernel.params["block"]), int(kernel.params["width"])
        nb = kernel.out_features // b
        values, *scales = expected_values(kernel.params, [nb, b, width * b], kernel.shape)
        return [values, ("cols", [nb, width * b], (f"i{kernel.params['col_bits']}",)), *scales]

    def storage_problem(self, kernel: Kernel) -> str | None:
        b = kernel.params.get("block")
        rows, cols = kernel.shape
        if not isinstance(b, int) or b <= 0 or rows % b or cols % b:
            return f"with format 'bell' needs params block dividing the weight shape [{rows}, {cols}], got {kernel.params}"
        return super().storage_problem(kernel)

    def row_slots(self, kernel: Kernel) -> int:
        return int(kernel.params["width"]) * int(kernel.params["block"])

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        acc = block_rows_matmul(as_float32(kernel.input), SlotValues.of(kernel), kernel.storage_values["cols"])
        return kernel_epilogue(kernel, acc)

    def describe(self, params: dict[str, Any]) -> str:
        b = params.get("block")
        return f"blocked ELL{describe_values(params)}, {b}x{b} blocks, {params.get('width')} slots per block row"


def _plan(params: dict[str, Any], rows: int) -> Plan:
    """The plan of ``params`` at ``rows`` rows, naming the kernel that runs it."""
    return Plan(params, kernel="packed_blocks" if rows > 1 and slot_lanes(params) > 1 else "gather")


def _whole_elements(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with as many block slots as fill whole stored elements (the extra blocks are empty)."""
    lanes, b = slot_lanes(params), int(params["block"])
    step = lanes // math.gcd(lanes, b)
    return {**params, "width": -(-int(params["width"]) // step) * step}


FORMAT = BlockEllFormat()
