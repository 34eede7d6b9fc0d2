"""Reading linalg's 2-D convolutions: which ones carry a filter, its matrix, geometry and bias.

torch-mlir writes ``nn.Conv2d`` as ``linalg.conv_2d_nchw_fchw`` (filter ``[F, C, KH, KW]``)
into a zero fill or a broadcast of the bias, a grouped one as
``linalg.conv_2d_ngchw_gfchw`` over an expanded filter and a depthwise one as
``linalg.depthwise_conv_2d_nchw_chw`` over a collapsed one; MLIR written by hand may use
``linalg.conv_2d_nhwc_hwcf`` (filter ``[KH, KW, C, F]``). Every filter is read as the
``[F, C*KH*KW]`` matrix of :mod:`sparsile.passes.conv_geometry`, whatever its layout.
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
    """The window, strides and dilations of a linalg 2-D convolution."""
    shape = _shape(op.operands[1])
    window = (shape[0], shape[1]) if op.name == NHWC_CONV else (shape[-2], shape[-1])
    return ConvGeometry(window, _pair(op, "strides"), _pair(op, "dilations"))


def groups(op: ir.Operation) -> int:
    """How many groups a convolution's channels are split into (1: every filter reads every channel)."""
    if op.name == GROUPED_CONV:
        return _shape(op.operands[1])[0]
    if op.name == DEPTHWISE_CONV:
        return _shape(op.operands[1])[0]
    return 1


def filter_matrix(array: np.ndarray, op_name: str) -> np.ndarray:
    """A filter constant as ``[F, C*KH*KW]`` (columns ordered channel, window row, window column)."""
    if op_name == NHWC_CONV:
        array = array.transpose(3, 2, 0, 1)
    return array.reshape(array.shape[0], -1)


def filter_constant_shape(matrix: np.ndarray, op: ir.Operation) -> np.ndarray:
    """The inverse of :func:`filter_matrix` for ``op``'s filter constant."""
    if op.name == NHWC_CONV:
        kh, kw, c, f = _shape(op.operands[1])
        return matrix.reshape(f, c, kh, kw).transpose(2, 3, 1, 0)
    return matrix


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
