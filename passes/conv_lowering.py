"""Convolution kernels as IR: the dense convolution, the direct sparse one around its dispatch,
and the channel gather and scatter of kept-channel storage.

A ``sparsile.conv`` holds its filter as the ``[F, C/G*KH*KW]`` matrix of
:mod:`sparsile.passes.conv_geometry`; each storage format's ``lower_conv`` builds the
product from these pieces and ends with :func:`conv_epilogue` (the bias runs along the
channels of the NCHW result).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..mlir import arith, ir, linalg, tensor
from .conv_geometry import ConvGeometry
from .conv_kernels import LANES, DirectConvConfig, PhaseLayout, direct_conv_kernel
from .dispatch_markers import dispatch, module_of, unique_symbol
from .epilogue_ir import epilogue
from .ir_build import constant, elementwise, scalar, transpose, zeros
from .ir_build import index_constant as _index
from .kernel_values import as_float32

if TYPE_CHECKING:
    from .kernel_ops import Kernel


def conv_epilogue(kernel: Kernel, acc: ir.Value) -> ir.Value:
    """``kernel``'s epilogue on its NCHW product ``acc``."""
    return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual, channel_dim=1)


def geometry_of(kernel: Kernel) -> ConvGeometry:
    """The geometry of a ``sparsile.conv`` (a ValueError for a matmul kernel)."""
    if kernel.conv is None:
        raise ValueError("not a convolution kernel")
    return kernel.conv


def filter_of(matrix: ir.Value, channels: int, window: tuple[int, int]) -> ir.Value:
    """The ``[F, C*KH*KW]`` matrix ``matrix`` as the filter ``[F, C, KH, KW]`` (a reshape: no copy)."""
    t = ir.RankedTensorType(matrix.type)
    shape = [t.shape[0], channels, window[0], window[1]]
    return tensor.ExpandShapeOp(ir.RankedTensorType.get(shape, t.element_type), matrix, [[0], [1, 2, 3]], [], shape).result


def dense_conv(x: ir.Value, filter_matrix: ir.Value, geometry: ConvGeometry) -> ir.Value:
    """IREE's convolution of ``x`` (padded NCHW) and the filter held as ``filter_matrix``: an NCHW, grouped
    (channels split into groups by reshapes) or depthwise ``linalg`` convolution."""
    n, c, h, w = ir.RankedTensorType(x.type).shape
    f = ir.RankedTensorType(filter_matrix.type).shape[0]
    oh, ow = geometry.output_size(h, w)
    groups = geometry.groups
    weight = filter_of(filter_matrix, c // groups, geometry.window)
    element = ir.RankedTensorType(x.type).element_type
    if ir.RankedTensorType(weight.type).element_type != element:
        weight = as_float32(weight)
    if groups == 1:
        return nchw_conv(x, weight, zeros([n, f, oh, ow], element), geometry.strides, geometry.dilations)
    kh, kw = geometry.window
    if c == groups and f == groups:  # depthwise: one channel per filter
        flat = tensor.CollapseShapeOp(ir.RankedTensorType.get([f, kh, kw], element), weight, [[0, 1], [2], [3]]).result
        result = linalg.depthwise_conv_2d_nchw_chw(x, flat, outs=[zeros([n, f, oh, ow], element)], strides=list(geometry.strides),
                                                    dilations=list(geometry.dilations))
        return _with_conv_attrs(result, geometry.strides, geometry.dilations)
    split = [[0], [1, 2], [3], [4]]
    xg = tensor.ExpandShapeOp(ir.RankedTensorType.get([n, groups, c // groups, h, w], element), x, split, [], [n, groups, c // groups, h, w]).result
    wg_shape = [groups, f // groups, c // groups, kh, kw]
    wg = tensor.ExpandShapeOp(ir.RankedTensorType.get(wg_shape, element), weight, [[0, 1], [2], [3], [4]], [], wg_shape).result
    init = zeros([n, groups, f // groups, oh, ow], element)
    yg = linalg.conv_2d_ngchw_gfchw(xg, wg, outs=[init], strides=list(geometry.strides), dilations=list(geometry.dilations))
    yg = _with_conv_attrs(yg, geometry.strides, geometry.dilations)
    return tensor.CollapseShapeOp(ir.RankedTensorType.get([n, f, oh, ow], element), yg, split).result


def nchw_conv(x: ir.Value, weight: ir.Value, init: ir.Value, strides: tuple[int, int], dilations: tuple[int, int]) -> ir.Value:
    """``linalg.conv_2d_nchw_fchw`` with its strides and dilations as torch-mlir writes them (``vector<2xi64>``)."""
    result = linalg.conv_2d_nchw_fchw(x, weight, outs=[init], strides=list(strides), dilations=list(dilations))
    return _with_conv_attrs(result, strides, dilations)


def _with_conv_attrs(result: ir.Value, strides: tuple[int, int], dilations: tuple[int, int]) -> ir.Value:
    """``result``'s convolution with its strides and dilations as ``vector<2xi64>`` (the opdsl builders write tensors)."""
    pair = ir.VectorType.get([2], ir.IntegerType.get_signless(64))
    for name, values in (("strides", strides), ("dilations", dilations)):
        result.owner.attributes[name] = ir.DenseElementsAttr.get(np.array(values, dtype=np.int64), type=pair)
    return result


def gather_channels(x: ir.Value, cols: ir.Value, kept: int, taps: int) -> ir.Value:
    """``x [N, C, H, W]`` at the ``kept`` input channels whose filter columns ``cols`` names (whole
    groups of ``taps`` columns, one channel each): ``[N, kept, H, W]``."""
    n, _, h, w = ir.RankedTensorType(x.type).shape
    element = ir.RankedTensorType(x.type).element_type
    result_type = ir.RankedTensorType.get([n, kept, h, w], element)
    index = ir.IndexType.get()

    def body(_: list[ir.Value]) -> ir.Value:
        slot = arith.MulIOp(linalg.IndexOp(1).result, _index(taps)).result
        column = arith.IndexCastOp(index, tensor.ExtractOp(cols, [slot]).result).result
        channel = arith.DivUIOp(column, _index(taps)).result
        return tensor.ExtractOp(x, [linalg.IndexOp(0).result, channel, linalg.IndexOp(2).result, linalg.IndexOp(3).result]).result

    return elementwise([], [], result_type, body)


def scatter_channels(z: ir.Value, row_slots: ir.Value, width: int) -> ir.Value:
    """``y [N, width, OH, OW]`` with ``y[:, f] = z[:, row_slots[f]]``, zero where ``row_slots[f]`` is -1."""
    n, _, oh, ow = ir.RankedTensorType(z.type).shape
    element = ir.RankedTensorType(z.type).element_type
    i32 = ir.IntegerType.get_signless(32)
    along_channels = ir.AffineMap.get(4, 0, [ir.AffineExpr.get_dim(1)])

    def body(args: list[ir.Value]) -> ir.Value:
        zero = arith.ConstantOp(i32, 0).result
        kept = arith.CmpIOp(arith.CmpIPredicate.sge, args[0], zero).result
        slot = arith.IndexCastOp(ir.IndexType.get(), arith.MaxSIOp(args[0], zero).result).result
        value = tensor.ExtractOp(z, [linalg.IndexOp(0).result, slot, linalg.IndexOp(2).result, linalg.IndexOp(3).result]).result
        return arith.SelectOp(kept, value, scalar(0.0, element)).result

    return elementwise([row_slots], [along_channels], ir.RankedTensorType.get([n, width, oh, ow], element), body)


def direct_sparse_conv(kernel: Kernel, config: DirectConvConfig) -> ir.Value:
    """The product of a conv kernel stored as plain CSR (``values``, ``cols``, ``offsets``), before
    its epilogue, through :func:`~sparsile.passes.conv_kernels.direct_conv_kernel`."""
    geometry = geometry_of(kernel)
    x = as_float32(kernel.input)
    n, c, h, w = ir.RankedTensorType(x.type).shape
    layout = PhaseLayout(n, c, h, w, geometry, tile=config.vectors * LANES)
    rows = phase_rows(x, layout)
    storage = kernel.storage_values
    f = kernel.out_features
    f32 = ir.F32Type.get()
    module = module_of(kernel.op)
    with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
        body = direct_conv_kernel(
            unique_symbol(module, "sparsile_kernel_"), layout=layout, out_channels=f,
            nnz=ir.RankedTensorType(storage["cols"].type).shape[0], col_type=ir.RankedTensorType(storage["cols"].type).element_type,
            value_type=ir.RankedTensorType(storage["values"].type).element_type, config=config,
        )
    taps = constant(layout.taps())
    y = dispatch(module, body, [rows, storage["values"], storage["cols"], storage["offsets"], taps],
                 ir.RankedTensorType.get([n, f, layout.padded_positions], f32))
    oh, ow = layout.output
    wq = layout.plane_width
    if layout.padded_positions != oh * wq:
        y = tensor.ExtractSliceOp(ir.RankedTensorType.get([n, f, oh * wq], f32), y, [], [], [], [0, 0, 0], [n, f, oh * wq], [1, 1, 1]).result
    grid = tensor.ExpandShapeOp(ir.RankedTensorType.get([n, f, oh, wq], f32), y, [[0], [1], [2, 3]], [], [n, f, oh, wq]).result
    if wq == ow:
        return grid
    return tensor.ExtractSliceOp(ir.RankedTensorType.get([n, f, oh, ow], f32), grid, [], [], [], [0, 0, 0, 0], [n, f, oh, ow], [1, 1, 1, 1]).result


def phase_rows(x: ir.Value, layout: PhaseLayout) -> ir.Value:
    """``x [N, C, H, W]`` as the ``[N, length]`` rows of :class:`PhaseLayout`: padded with zeros to whole
    strides, split into stride phases, flattened, and followed by the zero tail."""
    n, c, h, w = ir.RankedTensorType(x.type).shape
    f32 = ir.F32Type.get()
    (sh, sw) = layout.geometry.strides
    height, width = layout.plane_height * sh, layout.plane_width * sw
    if (height, width) != (h, w):
        x = tensor.InsertSliceOp(x, zeros([n, c, height, width], f32), [], [], [], [0, 0, 0, 0], [n, c, h, w], [1, 1, 1, 1]).result
    hq, wq = layout.plane_height, layout.plane_width
    if (sh, sw) != (1, 1):
        split = [n, c, hq, sh, wq, sw]
        x = tensor.ExpandShapeOp(ir.RankedTensorType.get(split, f32), x, [[0], [1], [2, 3], [4, 5]], [], split).result
        x = transpose(x, [0, 1, 3, 5, 2, 4])  # [N, C, SH, SW, Hq, Wq]
        groups = [[0], [1, 2, 3, 4, 5]]
    else:
        groups = [[0], [1, 2, 3]]
    flat = tensor.CollapseShapeOp(ir.RankedTensorType.get([n, layout.planes * layout.plane], f32), x, groups).result
    if not layout.tail:
        return flat
    size = layout.planes * layout.plane
    return tensor.InsertSliceOp(flat, zeros([n, layout.length], f32), [], [], [], [0, 0], [n, size], [1, 1]).result
