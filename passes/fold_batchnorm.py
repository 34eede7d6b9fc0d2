"""``fold-batchnorm``: an eval-mode batch norm after a convolution folded into its filter and bias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import INTENT_ATTR, NAME_ATTR, constant_array
from ..mlir import ir, linalg, tensor
from .constant_eval import evaluate
from .conv_lowering import nchw_conv
from .ir_build import constant
from .ir_query import walk_ops
from .kernel_ops import single_user
from .linalg_convs import NCHW_CONV, geometry
from .pass_base import Pass
from .weights import defining_op, float_constant

#: What each per-channel step does to ``y = conv(x) * scale + shift``, given the channel values ``p``.
_STEPS = ("arith.subf", "arith.addf", "arith.mulf", "arith.divf")


@dataclass(frozen=True)
class FoldBatchnorm(Pass):
    """Fold per-channel affine steps after a convolution into its filter and bias.

    Matches a ``linalg.conv_2d_nchw_fchw`` with a float32 constant filter that accumulates
    into a zero fill or a broadcast ``[F]`` bias, followed (each the single user of the
    last) by elementwise generics that subtract, add, multiply or divide by a per-channel
    tensor the program computes from constants alone: an eval-mode ``BatchNorm2d`` as
    torch-mlir exports it (minus the running mean, times ``1 / sqrt(running_var + eps)``,
    times the weight, plus the bias; :mod:`sparsile.passes.constant_eval` computes those
    values). Produces one convolution whose filter is scaled per output channel and whose
    bias is shifted: ``y = conv(x, W * s) + (b * s + t)``. A zero stays zero, so a pruned
    filter keeps its mask, and the filter constant keeps its name and ``sparsile.intent``.
    Runs before ``detect-sparsity``, which then measures the filter that will run.
    """

    name = "fold-batchnorm"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        for conv in [o for o in walk_ops(op) if o.name == NCHW_CONV]:
            _fold(conv)


def _fold(conv: ir.Operation) -> None:
    weight_op = defining_op(conv.operands[1])
    weight = constant_array(weight_op) if weight_op is not None else None
    if weight_op is None or weight is None or weight.dtype != np.float32:
        return
    f = weight.shape[0]
    bias = _initial_bias(conv, f)
    if bias is None:
        return
    scale, shift = np.ones(f), bias.astype(np.float64)
    steps: list[ir.Operation] = []
    value = conv.results[0]
    while (user := single_user(value)) is not None:
        channel_values = _channel_step(user, value, f)
        if channel_values is None:
            break
        kind, p = channel_values
        if kind == "arith.subf":
            shift = shift - p
        elif kind == "arith.addf":
            shift = shift + p
        elif kind == "arith.mulf":
            scale, shift = scale * p, shift * p
        else:
            scale, shift = scale / p, shift / p
        steps.append(user)
        value = user.results[0]
    if not steps or not np.all(np.isfinite(scale)) or not np.all(np.isfinite(shift)):
        return
    folded = (weight * scale.reshape(f, 1, 1, 1)).astype(np.float32)
    result_type = ir.RankedTensorType(conv.results[0].type)
    with ir.InsertionPoint(conv), conv.location:
        filter_value = constant(folded)
        for attr in (NAME_ATTR, INTENT_ATTR):
            if attr in weight_op.attributes:
                filter_value.owner.attributes[attr] = weight_op.attributes[attr]
        empty = tensor.EmptyOp(list(result_type.shape), result_type.element_type).result
        init = linalg.broadcast(constant(shift.astype(np.float32)), outs=[empty], dimensions=[0, 2, 3])
        init = init.results[0] if hasattr(init, "results") else init
        strides, dilations = geometry(conv).strides, geometry(conv).dilations
        new = nchw_conv(conv.operands[0], filter_value, init, strides, dilations)
    steps[-1].results[0].replace_all_uses_with(new)
    folded_ops = [conv, *steps]
    producers = [p for p in (defining_op(v) for o in folded_ops for v in o.operands) if p is not None and p not in folded_ops]
    for o in reversed(folded_ops):
        o.erase()
    _erase_dead(producers)


def _erase_dead(candidates: list[ir.Operation]) -> None:
    """Erase the candidates nothing uses any more, and then their producers likewise.

    The per-channel values were computed for the folded steps only; left behind, a dead generic
    holding a ``cf.assert`` survives canonicalization and would run at every call.
    """
    pending: list[ir.Operation] = []
    for op in candidates:
        if op not in pending:
            pending.append(op)
    progress = True
    while progress:
        progress = False
        for op in list(pending):
            if not op.name.startswith(("arith.", "tensor.", "linalg.")) or any(list(r.uses) for r in op.results):
                continue
            pending.remove(op)
            for producer in (defining_op(v) for v in op.operands):
                if producer is not None and producer not in pending:
                    pending.append(producer)
            op.erase()
            progress = True


def _initial_bias(conv: ir.Operation, features: int) -> np.ndarray | None:
    """The constant ``[F]`` bias a convolution accumulates into (zeros for a zero fill), or None."""
    init = defining_op(conv.operands[2])
    if init is None:
        return None
    if init.name == "linalg.fill":
        return np.zeros(features) if float_constant(init.operands[0]) == 0.0 else None
    if init.name == "linalg.broadcast" and list(ir.DenseI64ArrayAttr(init.attributes["dimensions"])) == [0, 2, 3]:
        source = defining_op(init.operands[0])
        array = constant_array(source) if source is not None else None
        return None if array is None or array.shape != (features,) else np.asarray(array, np.float64)
    return None


def _channel_step(generic: ir.Operation, value: ir.Value, features: int) -> tuple[str, np.ndarray] | None:
    """(operation, per-channel values) when ``generic`` computes ``value op p[channel]`` elementwise."""
    if generic.name != "linalg.generic" or len(generic.operands) != 3 or generic.operands[0] != value:
        return None
    iterators = [str(a) for a in ir.ArrayAttr(generic.attributes["iterator_types"])]
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(generic.attributes["indexing_maps"])]
    identity = ir.AffineMap.get_identity(4, context=generic.context)
    if len(iterators) != 4 or not all("parallel" in it for it in iterators) or maps[0] != identity or maps[2] != identity:
        return None
    body = [o.operation for o in generic.regions[0].blocks[0].operations]
    args = list(generic.regions[0].blocks[0].arguments)
    if len(body) != 2 or body[0].name not in _STEPS or body[1].name != "linalg.yield" or body[1].operands[0] != body[0].results[0]:
        return None
    kind = body[0].name
    if list(body[0].operands) != [args[0], args[1]] and not (kind in ("arith.addf", "arith.mulf") and list(body[0].operands) == [args[1], args[0]]):
        return None
    if not _along_channels(maps[1]):
        return None
    p = evaluate(generic.operands[1])
    if p is None or p.size != features:
        return None
    return kind, np.asarray(p, np.float64).reshape(features)


def _along_channels(m: ir.AffineMap) -> bool:
    """Whether ``m`` reads an operand by the channel (``d1``) alone, unit dimensions at 0."""
    dims = [e for e in m.results if isinstance(e, ir.AffineDimExpr)]
    others = [e for e in m.results if not isinstance(e, ir.AffineDimExpr)]
    return (len(dims) == 1 and ir.AffineDimExpr(dims[0]).position == 1
            and all(isinstance(e, ir.AffineConstantExpr) and ir.AffineConstantExpr(e).value == 0 for e in others))
