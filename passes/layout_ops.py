"""How layout ops move a tensor's dimensions: transposes, broadcasts and unit reshapes.

Walking from a consumer's operand back to the constant it reads, each layout op maps
the dimensions of its result to those of its source: ``linalg.transpose`` permutes
them, ``linalg.broadcast`` (or a generic that only copies its input) drops the ones it
adds, and ``tensor.expand_shape`` / ``tensor.collapse_shape`` add or drop unit
dimensions. A reshape that merges or splits dimensions of more than one element is not
a layout op for this purpose: the weight's axes are lost in it.
"""

from __future__ import annotations

from ..mlir import ir

_LAYOUT_OPS = ("linalg.transpose", "linalg.broadcast", "linalg.generic", "tensor.expand_shape", "tensor.collapse_shape")


def is_layout_op(op: ir.Operation) -> bool:
    """Whether ``op`` only moves its one source's elements (transpose, broadcast, reshape, copying generic)."""
    if op.name == "linalg.generic":
        return _copied_input_dims(op) is not None
    return op.name in _LAYOUT_OPS


def source_dims(op: ir.Operation, axes: list[int | None]) -> list[int | None] | None:
    """Where each dimension of ``op``'s source ends up, given where each dimension of its result does.

    ``axes[i]`` names what the result's dimension ``i`` is (in the caller's terms); the
    answer names the same for the source, None for a unit dimension a reshape drops.
    None when ``op`` mixes dimensions of more than one element (a real reshape).
    """
    if op.name == "linalg.transpose":
        permutation = list(ir.DenseI64ArrayAttr(op.attributes["permutation"]))
        source: list[int | None] = [None] * len(permutation)
        for result_dim, source_dim in enumerate(permutation):
            source[source_dim] = axes[result_dim]
        return source
    if op.name == "linalg.broadcast":
        added = set(ir.DenseI64ArrayAttr(op.attributes["dimensions"]))
        return [a for d, a in enumerate(axes) if d not in added]
    if op.name == "linalg.generic":
        copied = _copied_input_dims(op)
        return None if copied is None else [axes[d] for d in copied]
    expanded = op.name == "tensor.expand_shape"
    groups = [[ir.IntegerAttr(d).value for d in ir.ArrayAttr(g)] for g in ir.ArrayAttr(op.attributes["reassociation"])]
    wide_shape = ir.RankedTensorType((op.results[0] if expanded else op.operands[0]).type).shape
    narrow: list[int | None] = []
    wide: list[int | None] = [None] * len(wide_shape)
    for j, group in enumerate(groups):
        big = [d for d in group if wide_shape[d] != 1]
        if len(big) > 1:
            return None
        if expanded:
            narrow.append(axes[big[0]] if big else None)
        elif big:
            wide[big[0]] = axes[j]
    return narrow if expanded else wide


def is_upcast(op: ir.Operation) -> bool:
    """Whether ``op`` is a ``linalg.generic`` whose body only widens its one input (``arith.extf``):
    how torch's CPU decomposition feeds a float16 or bfloat16 weight to a float32 matmul."""
    if op.name != "linalg.generic" or len(op.operands) != 2:
        return False
    body = [o.operation for o in op.regions[0].blocks[0].operations]
    return len(body) == 2 and body[0].name == "arith.extf" and _copies_through(op, body) is not None


def _copies_through(generic: ir.Operation, body: list[ir.Operation]) -> ir.Operation | None:
    """The yield of a body that passes its input through unchanged or only widened, else None."""
    block = generic.regions[0].blocks[0]
    value = block.arguments[0]
    for op in body[:-1]:
        if op.name != "arith.extf" or op.operands[0] != value:
            return None
        value = op.results[0]
    last = body[-1]
    return last if last.name == "linalg.yield" and last.operands[0] == value else None


def _copied_input_dims(generic: ir.Operation) -> list[int] | None:
    """For a generic that only copies (broadcasts, or widens: a half-precision weight's upcast) its one
    input into an identity-mapped result, the result dimension of each input dimension; None for any
    other generic."""
    if len(generic.operands) != 2 or len(generic.results) != 1:
        return None
    body = [o.operation for o in generic.regions[0].blocks[0].operations]
    if len(body) > 2 or _copies_through(generic, body) is None:
        return None
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(generic.attributes["indexing_maps"])]
    if maps[1] != ir.AffineMap.get_identity(maps[1].n_dims, context=generic.context):
        return None
    dims = []
    for expr in maps[0].results:
        if not isinstance(expr, ir.AffineDimExpr):
            return None
        dims.append(expr.position)
    return dims
