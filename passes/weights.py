"""Finding the weight constants that feed matmuls, contractions and convolutions.

A weight is a 2-D float constant read by a contraction (``linalg.matmul``,
``linalg.batch_matmul`` or a multiply-accumulate ``linalg.generic``), possibly
through layout ops: ``linalg.transpose`` (the importer's ``[out, in]`` weights),
a broadcast over a batch (``linalg.broadcast`` or a copying generic) and reshapes
that only add or drop unit dimensions, and the elementwise upcast by which torch's CPU
decomposition feeds a float16 or bfloat16 weight to a float32 matmul (the weight is
stored in its own precision; the kernels widen it). After ``detect-sparsity`` a
``sparse_tensor.convert`` to the encoded type sits right after the constant. A
:class:`WeightUse` records that chain and, from the consumer's indexing maps, which
of the weight's axes the contraction sums over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import constant_array, weight_name
from ..mlir import ir
from .contraction import CONTRACTION_OPS, Contraction, analyze
from .ir_query import walk_ops
from .layout_ops import is_layout_op, is_upcast, source_dims
from .linalg_convs import CONV_OPS, GROUPED_CONVS, filter_matrix, geometry

MATMUL_OPS = ("linalg.matmul", "linalg.batch_matmul")


@dataclass
class WeightUse:
    """A weight constant reaching operand ``operand`` of ``consumer``."""

    constant: ir.Operation
    consumer: ir.Operation
    operand: int
    #: The layout ops between the constant (or its convert) and the consumer, the constant's side first.
    chain: tuple[ir.Operation, ...]
    convert: ir.Operation | None
    #: The consumer read as a contraction (None for convolutions).
    contraction: Contraction | None

    @property
    def kind(self) -> str:
        return "conv" if self.contraction is None else "matmul"

    @property
    def reduction_dim(self) -> int:
        """The axis of the constant the consumer sums over (1 for conv filters, flattened)."""
        return 1 if self.contraction is None else self.contraction.reduction_dim

    @property
    def first_user(self) -> ir.Operation:
        """The op that reads the constant (or its convert): the chain's first op, or the consumer."""
        return self.chain[0] if self.chain else self.consumer

    @property
    def name(self) -> str:
        return weight_name(self.constant) or f"constant at {self.constant.location}"

    def matrix(self) -> np.ndarray | None:
        """The weight as an ``[out, red]`` matrix (conv filters flattened), or None if unreadable."""
        array = constant_array(self.constant)
        if array is None:
            return None
        if self.kind == "conv":
            return filter_matrix(array, self.consumer.name)
        return array if self.reduction_dim == 1 else array.T

    @property
    def channel_group(self) -> int:
        """Columns per input channel of :meth:`matrix` (KH*KW for conv filters)."""
        return geometry(self.consumer).taps if self.kind == "conv" else 1


def defining_op(value: ir.Value) -> ir.Operation | None:
    """The op producing ``value``, or None for block arguments."""
    owner = value.owner
    return None if isinstance(owner, ir.Block) else owner.operation


def float_constant(value: ir.Value) -> float | None:
    """The value of a scalar float ``arith.constant``, or None for anything else."""
    op = defining_op(value)
    if op is None or op.name != "arith.constant" or not isinstance(op.attributes["value"], ir.FloatAttr):
        return None
    return ir.FloatAttr(op.attributes["value"]).value


def trace_weight(consumer: ir.Operation, operand: int) -> WeightUse | None:
    """The weight chain feeding ``consumer``'s operand, if it starts at a float constant."""
    value = consumer.operands[operand]
    convert = None
    chain: list[ir.Operation] = []
    axes: list[int | None] | None = list(range(ir.RankedTensorType(value.type).rank))
    op = defining_op(value)
    if consumer.name in CONV_OPS and op is not None and is_upcast(op):  # a half-precision filter's upcast
        chain.append(op)
        op = defining_op(op.operands[0])
    if consumer.name in GROUPED_CONVS and op is not None and op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
        chain.insert(0, op)  # the [F, C/G, KH, KW] filter split into groups, or a depthwise one's unit dimension dropped
        op = defining_op(op.operands[0])
    while op is not None and consumer.name not in CONV_OPS and axes is not None and is_layout_op(op):
        axes = source_dims(op, axes)
        chain.insert(0, op)
        op = defining_op(op.operands[0])
    if op is not None and op.name == "sparse_tensor.convert":
        convert = op
        op = defining_op(op.operands[0])
    if axes is None or op is None or op.name != "arith.constant":
        return None
    t = op.results[0].type
    if not isinstance(t, ir.RankedTensorType) or not isinstance(t.element_type, (ir.F32Type, ir.F16Type, ir.BF16Type, ir.F64Type)):
        return None
    if consumer.name in CONV_OPS:
        return WeightUse(op, consumer, operand, tuple(chain), convert, None)
    if len(axes) != 2 or axes[0] is None or axes[1] is None:
        return None
    contraction = analyze(consumer, operand, (axes[0], axes[1]))
    if contraction is None:
        return None
    return WeightUse(op, consumer, operand, tuple(chain), convert, contraction)


def weight_use_of(op: ir.Operation) -> WeightUse | None:
    """The weight ``op`` reads: a convolution's filter, or a contraction's constant input.

    A contraction's weight is its second input when that is a weight, else its first
    (``W @ x``).
    """
    if op.name in CONV_OPS:
        return trace_weight(op, 1)
    if op.name in CONTRACTION_OPS and len(op.operands) == 3:
        return trace_weight(op, 1) or trace_weight(op, 0)
    return None


def weight_uses(module: ir.Operation) -> list[WeightUse]:
    """Every weight constant feeding a contraction or the filter of a 2-D convolution."""
    return [use for use in map(weight_use_of, walk_ops(module)) if use is not None]
