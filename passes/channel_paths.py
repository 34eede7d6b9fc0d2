"""The channel-wise ops between a convolution and the layer that reads its channels.

Between a ``sparsile.conv`` and its consumer (another convolution kernel, or a matmul
after pooling and flattening) torch-mlir leaves ops that treat every channel alike:
zero padding, max and sum pooling (``-inf`` padding before a max pool), the reduction and
division of a global average pool, a division or multiplication by a constant, and the
``collapse_shape`` of ``torch.flatten``. :func:`trace` follows such a path; each op on it
maps a channel that is constant inside the image to a constant times the same map of
ones, so channels can be removed from (or merged along) the whole path.
:func:`shrink` rebuilds the path for fewer channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..mlir import ir, linalg, tensor
from .kernel_ops import is_kernel, single_user
from .weights import defining_op, float_constant

_POOLS = ("linalg.pooling_nchw_max", "linalg.pooling_nchw_sum")


@dataclass(frozen=True)
class ChannelPath:
    """The ops from a convolution's result to ``consumer``, which reads ``group`` columns per channel."""

    ops: tuple[ir.Operation, ...]
    consumer: ir.Operation
    #: Columns of the consumer's ``[out, in]`` weight per channel (the taps of a convolution,
    #: the flattened positions of a matmul).
    group: int


def trace(value: ir.Value, channels: int) -> ChannelPath | None:
    """The path from ``value`` (NCHW, ``channels`` channels) to its consumer, or None.

    The consumer is a kernel op reading the path's end as its input (a convolution, or a
    matmul on ``[N, channels * group]``) or a ``linalg.matmul`` reading it as its
    ``[N, in]`` activation; every op before it is the single user of the one before.
    """
    ops: list[ir.Operation] = []
    while True:
        user = single_user(value)
        if user is None:
            return None
        if (is_kernel(user) or user.name == "linalg.matmul") and user.operands[0] == value:
            shape = ir.RankedTensorType(value.type).shape
            if len(shape) == 4 and is_kernel(user) and user.name == "sparsile.conv":
                return ChannelPath(tuple(ops), user, _conv_taps(user, channels))
            if len(shape) == 2 and user.name != "sparsile.conv" and shape[1] % channels == 0:
                return ChannelPath(tuple(ops), user, shape[1] // channels)
            return None
        if not _channel_wise(user, value, ops):
            return None
        ops.append(user)
        value = user.results[0]


def _conv_taps(conv: ir.Operation, channels: int) -> int:
    """Columns per input channel of a conv kernel reading ``channels`` channels (0: a grouped one, whose
    columns are per group)."""
    in_features = ir.IntegerAttr(conv.attributes["in_features"]).value
    if ir.IntegerAttr(conv.attributes["groups"]).value != 1 or in_features % channels:
        return 0
    return in_features // channels


def _channel_wise(op: ir.Operation, value: ir.Value, before: list[ir.Operation]) -> bool:
    """Whether ``op`` treats every channel of ``value`` (dimension 1) alike and linearly."""
    shape = ir.RankedTensorType(value.type).shape
    if op.name == "tensor.pad":
        low = list(ir.DenseI64ArrayAttr(op.attributes["static_low"]))
        high = list(ir.DenseI64ArrayAttr(op.attributes["static_high"]))
        pad_value = float_constant(_pad_value(op)) if _pad_value(op) is not None else None
        if len(low) != 4 or low[:2] != [0, 0] or high[:2] != [0, 0] or pad_value is None:
            return False
        # Zero padding is linear; -inf padding only before a max pool, whose every window sees the image.
        if pad_value == 0.0:
            return True
        user = single_user(op.results[0])
        return pad_value == -math.inf and user is not None and user.name == "linalg.pooling_nchw_max"
    if op.name in _POOLS:
        return op.operands[0] == value and _fill_value(op.operands[2]) == (-math.inf if op.name.endswith("max") else 0.0)
    if op.name == "tensor.collapse_shape":
        groups = [[ir.IntegerAttr(d).value for d in ir.ArrayAttr(g)] for g in ir.ArrayAttr(op.attributes["reassociation"])]
        return len(shape) == 4 and groups == [[0], [1, 2, 3]]
    if op.name == "linalg.generic":
        return _channel_wise_generic(op, value)
    return False


def _pad_value(pad: ir.Operation) -> ir.Value | None:
    body = [o.operation for o in pad.regions[0].blocks[0].operations]
    return body[-1].operands[0] if body and body[-1].name == "tensor.yield" else None


def _fill_value(init: ir.Value) -> float | None:
    fill = defining_op(init)
    return float_constant(fill.operands[0]) if fill is not None and fill.name == "linalg.fill" else None


def _channel_wise_generic(op: ir.Operation, value: ir.Value) -> bool:
    """A sum or max over positions (into a zero or ``-inf`` fill), or a product or quotient with a constant."""
    if len(op.operands) != 2 or op.operands[0] != value or len(op.results) != 1:
        return False
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    iterators = [str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
    rank = len(iterators)
    if maps[0] != ir.AffineMap.get_identity(rank, context=op.context) or rank < 2 or "parallel" not in iterators[1]:
        return False
    results = list(maps[1].results)
    if len(results) < 2 or not isinstance(results[1], ir.AffineDimExpr) or ir.AffineDimExpr(results[1]).position != 1:
        return False
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    args = list(block.arguments)
    if len(body) != 2 or body[1].name != "linalg.yield" or body[1].operands[0] != body[0].results[0]:
        return False
    step = body[0]
    reduces = any("reduction" in it for it in iterators)
    if step.name in ("arith.addf", "arith.maximumf") and set(step.operands) == {args[0], args[1]}:
        return reduces and _fill_value(op.operands[1]) == (0.0 if step.name == "arith.addf" else -math.inf)
    if step.name in ("arith.mulf", "arith.divf") and step.operands[0] == args[0] and not reduces:
        return float_constant(step.operands[1]) is not None and maps[1] == maps[0]
    return False


def shrink(path: ChannelPath, value: ir.Value) -> ir.Value:
    """Rebuild ``path``'s ops on ``value`` (the producer's result, now with fewer channels);
    returns what the consumer reads (its type's dimension 1 shrunk to match)."""
    kept, channels = ir.RankedTensorType(value.type).shape[1], ir.RankedTensorType(path.ops[0].operands[0].type).shape[1] if path.ops else 1
    for op in path.ops:
        result = ir.RankedTensorType(op.results[0].type)
        shape = list(result.shape)
        # Dimension 1 shrinks in proportion: the channels themselves, or channels x positions once flattened.
        shape[1] = shape[1] * kept // channels
        new_type = ir.RankedTensorType.get(shape, result.element_type)
        with ir.InsertionPoint(op), op.location:
            if op.name in _POOLS or op.name == "linalg.generic":
                op.operands[len(op.operands) - 1] = _fresh_init(op.operands[len(op.operands) - 1], new_type)
        op.operands[0] = value
        op.results[0].set_type(new_type)
        value = op.results[0]
    return value


def _fresh_init(init: ir.Value, new_type: ir.RankedTensorType) -> ir.Value:
    """An init like ``init`` (an empty tensor, or a fill of one) of ``new_type``: the old one may be shared."""
    empty = tensor.EmptyOp(list(new_type.shape), new_type.element_type).result
    producer = defining_op(init)
    if producer is not None and producer.name == "linalg.fill":
        filled = linalg.fill(producer.operands[0], outs=[empty])
        return filled.results[0] if hasattr(filled, "results") else filled
    return empty
