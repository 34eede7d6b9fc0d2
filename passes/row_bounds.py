"""How many activation rows a kernel of a dynamic program sees, and the row counts it is compiled for.

A program exported with dynamic dimensions (``dynamic_shapes=``) records each entry
argument's dimension bounds (``sparsile.bounds``, see :mod:`sparsile.importer`). A
kernel's rows are the product of its input's leading dimensions: for an input with a
dynamic one, they range over the products of the arguments' leading bounds (batch x
sequence becomes the rows of every linear layer), times the input's own static leading
sizes. A dynamic kernel is compiled for a few static row counts, its *buckets* (powers
of two, and the maximum); a call runs the smallest bucket that holds its rows, the
input padded with zero rows, so at most twice the rows are computed (and the kernels
that stream the weight once, at a few rows, barely notice).
"""

from __future__ import annotations

import math

from ..constants import BOUNDS_ATTR
from ..mlir import ir
from .ir_query import walk_ops


def program_rows(module: ir.Operation) -> tuple[int, int] | None:
    """``(min, max)`` of the rows (product of leading dimensions) of the entry arguments with bounds, or None."""
    ranges = []
    for op in walk_ops(module):
        if op.name != "func.func" or "arg_attrs" not in op.attributes:
            continue
        for attrs in ir.ArrayAttr(op.attributes["arg_attrs"]):
            d = ir.DictAttr(attrs)
            if BOUNDS_ATTR not in d:
                continue
            pairs = [ir.ArrayAttr(p) for p in ir.ArrayAttr(d[BOUNDS_ATTR])]
            lows = [ir.IntegerAttr(p[0]).value for p in pairs]
            highs = [ir.IntegerAttr(p[1]).value for p in pairs]
            if len(pairs) > 1:
                ranges.append((math.prod(lows[:-1]), math.prod(highs[:-1])))
    if not ranges:
        return None
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


def is_dynamic(value: ir.Value) -> bool:
    """Whether a ranked tensor has a dynamic dimension."""
    return any(ir.ShapedType.is_dynamic_size(d) for d in ir.RankedTensorType(value.type).shape)


def value_rows(value: ir.Value, program: tuple[int, int] | None) -> tuple[int, int] | None:
    """``(min, max)`` rows of a ``[rows..., features]`` tensor: its size when static; None when dynamic without bounds."""
    leading = list(ir.RankedTensorType(value.type).shape)[:-1]
    static = math.prod(d for d in leading if not ir.ShapedType.is_dynamic_size(d))
    if len(leading) == sum(not ir.ShapedType.is_dynamic_size(d) for d in leading):
        return static, static
    if program is None:
        return None
    return program[0] * static, program[1] * static


def buckets(low: int, high: int) -> list[int]:
    """The row counts a kernel seeing ``low..high`` rows is compiled for: powers of two from the one
    holding ``low``, the last capped at ``high``."""
    counts = []
    power = 1
    while power < low:
        power *= 2
    while power < high:
        counts.append(power)
        power *= 2
    counts.append(high)
    return counts
