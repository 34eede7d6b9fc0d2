"""Turning a sparse-filter linalg convolution into a kernel op (``form-kernels``' convolutions).

An NCHW ``linalg.conv_2d_nchw_fchw`` becomes a ``sparsile.conv`` on the same (padded)
input, and so does a grouped ``linalg.conv_2d_ngchw_gfchw`` (read through the reshapes
that split the channels into groups) or a ``linalg.depthwise_conv_2d_nchw_chw``, with its
groups; a 1x1 NHWC ``linalg.conv_2d_nhwc_hwcf`` is a matmul over channels at every
position, so it becomes a ``sparsile.matmul`` on the input viewed as ``[N*OH*OW, C]``
(strided positions sliced out first) and every matmul storage format applies. The
bias the convolution accumulates into (a broadcast of a ``[F]`` tensor along the other
dimensions) becomes the kernel's bias.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dialects.patterns import Pattern
from ..mlir import ir, tensor
from .ir_build import flatten_rows
from .kernel_ops import create
from .linalg_convs import NHWC_CONV, channel_dims, geometry, nchw_view
from .weights import WeightUse, defining_op, float_constant


def conv_problem(use: WeightUse) -> str | None:
    """Why no kernel computes the convolution of ``use``, or None."""
    op = use.consumer
    conv = geometry(op)
    if op.name == NHWC_CONV and conv.window != (1, 1):
        return f"an NHWC {conv.describe()} convolution: sparse NHWC convolutions are 1x1 only"
    if op.name != NHWC_CONV and nchw_view(op) is None:
        return "the grouped convolution's channels are not split from an NCHW tensor by reshapes"
    result = ir.RankedTensorType(op.results[0].type).element_type
    if not isinstance(result, ir.F32Type):
        return f"the convolution accumulates in {result}; the kernels accumulate in f32"
    if _bias(op) is False:
        return "the convolution accumulates into a tensor that is not a per-channel bias"
    weight = use.matrix()
    if weight is None or not np.any(weight):
        return "the weight is all zeros"
    return None


def _bias(op: ir.Operation) -> ir.Value | None | bool:
    """The ``[F]`` bias a convolution accumulates into; None for a zero fill, False for anything else."""
    view = nchw_view(op) if op.name != NHWC_CONV else (op.operands[0], op.operands[2], op)
    if view is None:
        return False
    _, accumulator, output = view
    init = defining_op(accumulator)
    if init is None:
        return False
    if init.name == "linalg.fill":
        return None if float_constant(init.operands[0]) == 0.0 else False
    channel, broadcast = channel_dims(op)
    if init.name != "linalg.broadcast" or list(ir.DenseI64ArrayAttr(init.attributes["dimensions"])) != broadcast:
        return False
    source = init.operands[0]
    features = ir.RankedTensorType(output.results[0].type).shape[channel]
    return source if list(ir.RankedTensorType(source.type).shape) == [features] else False


def form_conv_kernel(use: WeightUse, storage: ir.Value, pattern: Pattern, record: dict[str, Any]) -> None:
    """Replace ``use``'s convolution (checked by :func:`conv_problem`) by a kernel holding ``storage``."""
    op = use.consumer
    conv = geometry(op)
    bias = _bias(op)
    assert bias is not False  # conv_problem checked it
    f, k = ir.RankedTensorType(storage.type).shape
    fields: dict[str, Any] = {"shape": (f, k), "pattern": pattern, "layer": str(record.get("layer", "")), "record": record, "bias": bias}
    if op.name == NHWC_CONV:
        result_type = ir.RankedTensorType(op.results[0].type)
        with ir.InsertionPoint(op), op.location:
            n, oh, ow, _ = result_type.shape
            x = flatten_rows(_strided_positions(op.operands[0], conv.strides, (oh, ow)))
            rows = ir.RankedTensorType.get([n * oh * ow, f], result_type.element_type)
            product = create("dense", {"values": storage}, input=x, result_type=rows, **fields).results[0]
            y = tensor.ExpandShapeOp(result_type, product, [[0, 1, 2], [3]], [], list(result_type.shape)).result
        op.results[0].replace_all_uses_with(y)
        op.erase()
        return
    view = nchw_view(op)
    assert view is not None  # conv_problem checked it
    x, _, output = view
    with ir.InsertionPoint(op), op.location:
        y = create("dense", {"values": storage}, input=x, result_type=output.results[0].type, conv=conv, **fields).results[0]
    output.results[0].replace_all_uses_with(y)
    if output != op:
        output.erase()  # the collapse that merged a grouped convolution's groups
    op.erase()


def _strided_positions(x: ir.Value, strides: tuple[int, int], output: tuple[int, int]) -> ir.Value:
    """The NHWC positions a 1x1 convolution with ``strides`` reads: every stride-th row and column."""
    n, h, w, c = ir.RankedTensorType(x.type).shape
    if strides == (1, 1) and (h, w) == output:
        return x
    result = ir.RankedTensorType.get([n, output[0], output[1], c], ir.RankedTensorType(x.type).element_type)
    return tensor.ExtractSliceOp(result, x, [], [], [], [0, 0, 0, 0], [n, output[0], output[1], c], [1, strides[0], strides[1], 1]).result
