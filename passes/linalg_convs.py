"""Reading linalg's 2-D convolutions: which ones carry a filter, its matrix, geometry and bias.

torch-mlir writes ``nn.Conv2d`` as ``linalg.conv_2d_nchw_fchw`` (filter ``[F, C, KH, KW]``)
into a zero fill or a broadcast of the bias, a grouped one as
``linalg.conv_2d_ngchw_gfchw`` over an expanded filter and a depthwise one as
``linalg.depthwise_conv_2d_nchw_chw`` over a collapsed one; MLIR written by hand may use
``linalg.conv_2d_nhwc_hwcf`` (filter ``[KH, KW, C, F]``). Every filter is read as the
``[F, C/G*KH*KW]`` matrix of :mod:`sparsile.passes.conv_geometry`, whatever its layout.
"""

from __future__ import annotations

import numpy as np

from ..mlir import ir
from .conv_geometry import ConvGeometry

NCHW_CONV = "linalg.conv_2d_nchw_fchw"
NHWC_CONV = "linalg.conv_2d_nhwc_hwcf"
GROUPED_CONV = "linalg.conv_2d_ngchw_gfchw"
DEPTHWISE_CONV = "linalg.depthwise_conv_2d_nchw_chw"
CONV_OPS = (NCHW_CONV, NHWC_CONV, GROUPED_CONV, DEPTHWISE_CONV)
#: Grouped convolutions reach their filter through one reshape of the ``[F, C/G, KH, KW]`` constant.
GROUPED_CONVS = (GROUPED_CONV, DEPTHWISE_CONV)


def _shape(value: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _pair(op: ir.Operation, name: str) -> tuple[int, int]:
    if name not in op.attributes:
        return (1, 1)
    values = [int(v) for v in np.asarray(ir.DenseIntElementsAttr(op.attributes[name])).reshape(-1)]
    return (values[0], values[1]) if len(values) == 2 else (1, 1)


def geometry(op: ir.Operation) -> ConvGeometry:
    """The window, strides, dilations and groups of a linalg 2-D convolution."""
    shape = _shape(op.operands[1])
    window = (shape[0], shape[1]) if op.name == NHWC_CONV else (shape[-2], shape[-1])
    return ConvGeometry(window, _pair(op, "strides"), _pair(op, "dilations"), groups(op))


def groups(op: ir.Operation) -> int:
    """How many groups a convolution's channels are split into (1: every filter reads every channel)."""
    if op.name in GROUPED_CONVS:
        return _shape(op.operands[1])[0]  # [G, F/G, C/G, KH, KW], or a depthwise [C, KH, KW]
    return 1


def filter_matrix(array: np.ndarray, op_name: str) -> np.ndarray:
    """A filter constant as ``[F, C*KH*KW]`` (columns ordered channel, window row, window column)."""
    if op_name == NHWC_CONV:
        array = array.transpose(3, 2, 0, 1)
    return array.reshape(array.shape[0], -1)


def nchw_view(op: ir.Operation) -> tuple[ir.Value, ir.Value, ir.Operation] | None:
    """(NCHW input, accumulator, op whose result is the NCHW output) of an NCHW, grouped or depthwise
    convolution, reading through the reshapes that split channels into groups; None if they do not."""
    if op.name in (NCHW_CONV, DEPTHWISE_CONV):
        return op.operands[0], op.operands[2], op
    if op.name != GROUPED_CONV:
        return None
    split = [[0], [1, 2], [3], [4]]
    users = [u.owner for u in op.results[0].uses]
    merge = users[0].operation if len(users) == 1 and hasattr(users[0], "operation") else None
    if merge is None or merge.name != "tensor.collapse_shape" or _groups_of(merge) != split:
        return None
    x, init = _defining(op.operands[0]), _defining(op.operands[2])
    if x is None or x.name != "tensor.expand_shape" or _groups_of(x) != split or init is None:
        return None
    if init.name == "tensor.expand_shape" and _groups_of(init) == split:
        return x.operands[0], init.operands[0], merge
    return (x.operands[0], op.operands[2], merge) if init.name == "linalg.fill" else None


def _defining(value: ir.Value) -> ir.Operation | None:
    owner = value.owner
    return None if isinstance(owner, ir.Block) else owner.operation


def _groups_of(reshape: ir.Operation) -> list[list[int]]:
    return [[ir.IntegerAttr(d).value for d in ir.ArrayAttr(g)] for g in ir.ArrayAttr(reshape.attributes["reassociation"])]


def output_positions(op: ir.Operation) -> int:
    """Output positions per call (``N*OH*OW``): how many input rows meet each filter."""
    result = _shape(op.results[0])
    if op.name == NHWC_CONV:
        return int(result[0] * result[1] * result[2])
    return int(result[0] * result[-2] * result[-1])


def channel_dims(op: ir.Operation) -> tuple[int, list[int]]:
    """The result's channel dimension and the dimensions a per-channel bias is broadcast along."""
    if op.name == NHWC_CONV:
        return 3, [0, 1, 2]
    return 1, [0, 2, 3]
