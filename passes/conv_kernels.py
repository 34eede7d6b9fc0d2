"""The direct sparse convolution: a hand-written dispatch that walks a filter's nonzeros.

Each nonzero ``w`` of filter ``f`` at input channel ``c``, window position ``(i, j)``
adds ``w * x[c, oh*S + i*D, ow*S + j*D]`` to every output position ``(oh, ow)`` of
channel ``f``. With the input split into its ``S x S`` stride phases (plane ``(c, r,
q)`` holds ``x[c, a*S + r, b*S + q]``) and each plane flattened row by row with the
plane's width ``Wq`` as the row pitch, every output position ``p = oh * Wq + ow`` reads
its input at ``p + tap``, one constant ``tap`` per filter column (the plane's start plus
``(i*D div S) * Wq + (j*D div S)``). So one nonzero is one broadcast of its value and a
run of contiguous vector loads and FMAs over the output positions: the sparse matrix
times dense matrix of XNNPACK's 1x1 kernels, for any window, stride and dilation,
without building im2col. Output positions ``ow >= OW`` of each row are computed and
dropped (``Wq - OW`` of them per row: the padding's width).

Why this shape: the output positions are the vector dimension (NCHW keeps them
contiguous, so no transpose is needed on either side); a workgroup keeps ``vectors``
accumulators of 16 lanes in registers over one tile of positions for one output
channel at a time, so each nonzero costs an index load, a tap load, a broadcast and
``vectors`` load+FMA pairs, and the tile of every input plane it reads stays in cache
while the workgroup's output channels use it. Nothing is a ``vector.gather``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mlir import arith, func, ir, scf, vector
from .conv_geometry import ConvGeometry
from .csr_kernels import load_index, row_range
from .dispatch_markers import WORKGROUPS_ATTR
from .ir_build import index_constant as _index
from .kernel_values import FLOAT, memref_element, scalar_value

#: Lanes of one accumulator (a 512-bit vector of float32).
LANES = 16


@dataclass(frozen=True)
class PhaseLayout:
    """Where the direct conv reads its input: the padded NCHW input as flattened stride-phase planes.

    ``height x width`` is the padded input; rounded up to whole strides, each of its
    ``C * SH * SW`` phases is a ``plane_height x plane_width`` plane, and the planes lie one after
    the other in one row per image, followed by ``tail`` zeros that the last tile's
    dropped positions may read.
    """

    batch: int
    channels: int
    height: int
    width: int
    geometry: ConvGeometry
    #: Output positions per tile (``vectors * LANES``).
    tile: int

    @property
    def plane_height(self) -> int:
        return -(-self.height // self.geometry.strides[0])

    @property
    def plane_width(self) -> int:
        return -(-self.width // self.geometry.strides[1])

    @property
    def plane(self) -> int:
        return self.plane_height * self.plane_width

    @property
    def planes(self) -> int:
        return self.channels * self.geometry.strides[0] * self.geometry.strides[1]

    @property
    def output(self) -> tuple[int, int]:
        return self.geometry.output_size(self.height, self.width)

    @property
    def positions(self) -> int:
        """Output positions computed per output channel (``OH`` rows of ``plane_width``), before tiling."""
        return self.output[0] * self.plane_width

    @property
    def tiles(self) -> int:
        return -(-self.positions // self.tile)

    @property
    def padded_positions(self) -> int:
        return self.tiles * self.tile

    @property
    def group_planes(self) -> int:
        """Floats between the first planes of consecutive channel groups."""
        return self.channels // self.geometry.groups * self.geometry.strides[0] * self.geometry.strides[1] * self.plane

    def taps(self) -> np.ndarray:
        """The input offset of every filter column ``(c, i, j)`` (``c`` in the filter's group), as int32."""
        (kh, kw), (sh, sw), (dh, dw) = self.geometry.window, self.geometry.strides, self.geometry.dilations
        c, i, j = np.meshgrid(np.arange(self.channels // self.geometry.groups), np.arange(kh), np.arange(kw), indexing="ij")
        rows, cols = i * dh, j * dw
        plane = (c * sh + rows % sh) * sw + cols % sw
        offsets = plane * self.plane + (rows // sh) * self.plane_width + cols // sw
        return offsets.reshape(-1).astype(np.int32)

    @property
    def tail(self) -> int:
        """Zeros after the last plane, so the last plane's last tile reads inside the row."""
        (kh, kw), (sh, sw), (dh, dw) = self.geometry.window, self.geometry.strides, self.geometry.dilations
        furthest = ((kh - 1) * dh // sh) * self.plane_width + (kw - 1) * dw // sw
        return max(0, furthest + self.padded_positions - self.plane)

    @property
    def length(self) -> int:
        """Floats per image row: the planes and the tail."""
        return self.planes * self.plane + self.tail


@dataclass(frozen=True)
class DirectConvConfig:
    """Tiles of the direct conv: ``vectors`` accumulators of 16 lanes per output tile, ``rows``
    output channels per workgroup."""

    vectors: int
    rows: int


def direct_conv_config(positions: int, out_channels: int) -> DirectConvConfig:
    """The tiles for ``positions`` output positions per channel and ``out_channels`` filters.

    Eight accumulators (128 positions) keep both FMA ports busy (an FMA's latency is
    four cycles: eight independent chains cover it); fewer for small planes, where a
    128-position tile would mostly compute dropped positions. Measured on 3x3
    convolutions at 10% density (64 channels at 56x56, 256 at 14x14, 1 and 4 images):
    4 to 16 vectors and 4 to 64 channels per workgroup all ran within the noise of each
    other (0.17 to 0.22 of IREE's dense convolution at one image, 0.39 to 0.47 at four).
    """
    vectors = 8
    while vectors > 1 and (vectors // 2) * LANES >= positions:
        vectors //= 2
    return DirectConvConfig(vectors=vectors, rows=min(out_channels, 16))


def direct_conv_kernel(
    name: str, *, layout: PhaseLayout, out_channels: int, nnz: int, col_type: ir.Type, value_type: ir.Type, config: DirectConvConfig
) -> func.FuncOp:
    """``y[n, f, p] = sum_l values[l] * x[n, group_start(f) + taps[cols[l]] + p]`` over plain CSR rows ``f``.

    Arguments: workgroup ids (x: output-channel block, y: position tile, z: image),
    ``x [N, length]`` (:class:`PhaseLayout`), ``values [nnz]``, ``cols [nnz]`` (16-bit
    columns read as unsigned), ``offsets [F + 1]``, ``taps [C/G*KH*KW]``, result ``y [N, F,
    padded_positions]``; ``group_start(f)`` is where the planes of filter ``f``'s group begin.
    """
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    i32 = ir.IntegerType.get_signless(32)
    vec = ir.VectorType.get([LANES], f32)
    columns = layout.channels // layout.geometry.groups * layout.geometry.taps
    per_group = out_channels // layout.geometry.groups
    signature = [
        index,
        index,
        index,
        ir.MemRefType.get([layout.batch, layout.length], f32),
        ir.MemRefType.get([max(nnz, 1)], memref_element(value_type)),
        ir.MemRefType.get([max(nnz, 1)], col_type),
        ir.MemRefType.get([out_channels + 1], i32),
        ir.MemRefType.get([columns], i32),
        ir.MemRefType.get([layout.batch, out_channels, layout.padded_positions], f32),
    ]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([-(-out_channels // config.rows), layout.tiles, layout.batch])
    entry = kernel.add_entry_block()
    wg_rows, wg_tile, image, x, values, cols, offsets, taps, y = entry.arguments
    with ir.InsertionPoint(entry):
        one = _index(1)
        zero = arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, ir.FloatAttr.get(f32, 0.0))).result
        first, last = row_range(wg_rows, config.rows, out_channels)
        start_position = arith.MulIOp(wg_tile, _index(layout.tile)).result
        rows_loop = scf.ForOp(first, last, one)
        with ir.InsertionPoint(rows_loop.body):
            r = rows_loop.induction_variable
            begin = load_index(offsets, r)
            end = load_index(offsets, arith.AddIOp(r, one).result)
            row_start = start_position
            if layout.geometry.groups > 1:  # filter r reads the planes of its group
                group = arith.DivUIOp(r, _index(per_group)).result
                row_start = arith.AddIOp(arith.MulIOp(group, _index(layout.group_planes)).result, start_position).result
            loop = scf.ForOp(begin, end, one, [zero] * config.vectors)
            with ir.InsertionPoint(loop.body):
                position = loop.induction_variable
                tap = load_index(taps, load_index(cols, position))
                base = arith.AddIOp(tap, row_start).result
                weight = vector.BroadcastOp(vec, scalar_value(values, value_type, position, FLOAT)).result
                accs = []
                for u, acc in enumerate(loop.inner_iter_args):
                    at = base if u == 0 else arith.AddIOp(base, _index(u * LANES)).result
                    accs.append(vector.FMAOp(weight, vector.LoadOp(vec, x, [image, at]).result, acc).result)
                scf.YieldOp(accs)
            for u, acc in enumerate(loop.results):
                at = start_position if u == 0 else arith.AddIOp(start_position, _index(u * LANES)).result
                vector.StoreOp(acc, y, [image, r, at])
            scf.YieldOp([])
        func.ReturnOp([])
    return kernel
