"""Finding the weight constants that feed matmuls and convolutions.

The importer feeds a torch ``[out, in]`` weight to ``linalg.matmul`` through a
``linalg.transpose``; after ``detect-sparsity`` a ``sparse_tensor.convert`` to
the encoded type sits between the constant and the transpose. A float16 or
bfloat16 weight of a float32 matmul (torch's CPU decomposition of a half-precision
layer) also goes through an elementwise upcast, before or after the transpose. A
:class:`WeightUse` records that chain and the weight's orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import constant_array, weight_name
from ..mlir import ir
from .ir_query import walk_ops

MATMUL_OPS = ("linalg.matmul",)
CONV_OPS = ("linalg.conv_2d_nchw_fchw",)


@dataclass
class WeightUse:
    """A weight constant reaching operand ``operand`` of ``consumer``."""

    constant: ir.Operation
    consumer: ir.Operation
    operand: int
    transpose: ir.Operation | None
    convert: ir.Operation | None
    #: The elementwise upcast (``arith.extf`` generic) between the weight and its consumer, if any.
    cast: ir.Operation | None = None

    @property
    def first_user(self) -> ir.Operation:
        """The op that reads the constant (or its ``sparse_tensor.convert``)."""
        source = self.convert or self.constant
        # The chain runs constant -> [convert] -> [cast] -> [transpose] -> [cast] -> consumer.
        for op in (self.cast, self.transpose):
            if op is not None and op.operands[0] == source.results[0]:
                return op
        return self.consumer

    @property
    def kind(self) -> str:
        return "conv" if self.consumer.name in CONV_OPS else "matmul"

    @property
    def reduction_dim(self) -> int:
        """The reduction dimension of the constant in its own layout (2-D weights)."""
        return 1 if self.transpose is not None else 0

    @property
    def name(self) -> str:
        return weight_name(self.constant) or f"constant at {self.constant.location}"

    def matrix(self) -> np.ndarray | None:
        """The weight as an ``[out, red]`` matrix (conv filters flattened), or None if unreadable."""
        array = constant_array(self.constant)
        if array is None:
            return None
        if self.kind == "conv":
            return array.reshape(array.shape[0], -1)
        return array if self.reduction_dim == 1 else array.T

    @property
    def channel_group(self) -> int:
        """Columns per input channel of :meth:`matrix` (KH*KW for conv filters)."""
        if self.kind == "conv":
            shape = ir.RankedTensorType(self.constant.results[0].type).shape
            return int(shape[2] * shape[3])
        return 1


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


def _is_2d_transpose(op: ir.Operation) -> bool:
    perm = list(ir.DenseI64ArrayAttr(op.attributes["permutation"]))
    return perm == [1, 0]


def is_upcast(op: ir.Operation) -> bool:
    """Whether ``op`` is an elementwise ``linalg.generic`` whose body only widens its one input (``arith.extf``)."""
    if op.name != "linalg.generic" or len(op.operands) != 2:
        return False
    block = op.regions[0].blocks[0]
    body = list(block.operations)
    if len(body) != 2 or body[0].operation.name != "arith.extf" or body[0].operands[0] != block.arguments[0]:
        return False
    if body[1].operands[0] != body[0].results[0]:
        return False
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    return all(m == ir.AffineMap.get_identity(m.n_dims) for m in maps)


def trace_weight(consumer: ir.Operation, operand: int) -> WeightUse | None:
    """The weight chain feeding ``consumer``'s operand, if it starts at a float constant."""
    value = consumer.operands[operand]
    transpose = convert = cast = None
    op = defining_op(value)
    if op is not None and is_upcast(op):
        cast = op
        op = defining_op(op.operands[0])
    if op is not None and op.name == "linalg.transpose" and consumer.name in MATMUL_OPS:
        if not _is_2d_transpose(op):
            return None
        transpose = op
        op = defining_op(op.operands[0])
    if op is not None and cast is None and is_upcast(op):
        cast = op
        op = defining_op(op.operands[0])
    if op is not None and op.name == "sparse_tensor.convert":
        convert = op
        op = defining_op(op.operands[0])
    if op is None or op.name != "arith.constant":
        return None
    t = op.results[0].type
    if not isinstance(t, ir.RankedTensorType) or not isinstance(t.element_type, (ir.F32Type, ir.F16Type, ir.BF16Type, ir.F64Type)):
        return None
    return WeightUse(op, consumer, operand, transpose, convert, cast)


def weight_uses(module: ir.Operation) -> list[WeightUse]:
    """Every weight constant feeding the weight operand of a matmul or 2-D convolution."""
    uses = []
    for op in walk_ops(module):
        if op.name in MATMUL_OPS or op.name in CONV_OPS:
            use = trace_weight(op, 1)
            if use is not None:
                uses.append(use)
    return uses
