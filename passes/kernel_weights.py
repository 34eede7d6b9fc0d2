"""Reading the weight a ``sparsile.*`` kernel op holds back out of its packed constants."""

from __future__ import annotations

import numpy as np

from ..constants import constant_array
from ..dialects.formats import Format, Pattern
from ..dialects.packing import unpack
from ..mlir import ir
from .weights import defining_op

#: Kernel op name -> (format, names of its packed operands in order, after ``input``).
PACKED_OPERANDS: dict[str, tuple[Format, tuple[str, ...]]] = {
    "sparsile.csr_matmul": (Format.CSR, ("values", "col_indices", "row_offsets")),
    "sparsile.bsr_matmul": (Format.BSR, ("values", "block_cols", "block_row_offsets")),
    "sparsile.nm_matmul": (Format.NM, ("values", "positions")),
    "sparsile.channel_matmul": (Format.CHANNELS, ("values", "rows", "cols")),
}


def int_attr(op: ir.Operation, name: str) -> int:
    return ir.IntegerAttr(op.attributes[name]).value


def kernel_pattern(kernel: ir.Operation) -> Pattern:
    """The pattern (format and parameters) of a kernel op."""
    fmt = PACKED_OPERANDS[kernel.name][0]
    if fmt is Format.BSR:
        return Pattern(fmt, block=int_attr(kernel, "block"))
    if fmt is Format.NM:
        return Pattern(fmt, n=int_attr(kernel, "n"), m=int_attr(kernel, "m"))
    return Pattern(fmt)


def packed_arrays(kernel: ir.Operation) -> dict[str, np.ndarray] | None:
    """The packed operands of a kernel op as numpy arrays, or None if one is not a constant."""
    names = PACKED_OPERANDS[kernel.name][1]
    packed = {}
    for i, name in enumerate(names, start=1):
        producer = defining_op(kernel.operands[i])
        array = constant_array(producer) if producer is not None else None
        if array is None:
            return None
        packed[name] = array
    return packed


def kernel_weight(kernel: ir.Operation) -> np.ndarray | None:
    """The dense ``[out, in]`` weight of a kernel op, or None if its packing is not constant."""
    packed = packed_arrays(kernel)
    if packed is None:
        return None
    shape = (int_attr(kernel, "out_features"), int_attr(kernel, "in_features"))
    return unpack(packed, kernel_pattern(kernel), shape)
