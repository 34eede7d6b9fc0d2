"""Calling a kernel that reads activations feature-major, ``xt [blocks, K, mb]``, from the model's ``x [M, K]``.

The K-blocked CSR and the block-sparse kernels multiply one weight value by a contiguous
vector of ``mb`` activation rows, so the rows are padded to whole blocks of ``mb`` (zero
rows, whose results are dropped), each block transposed, and the result ``yt [blocks, N,
mb]`` transposed back to ``[M, N]``. The epilogue then runs in the model's layout.
"""

from __future__ import annotations

from collections.abc import Callable

from ..mlir import ir, tensor
from .ir_build import transpose, zeros


def padded_rows(m: int, mb: int) -> int:
    """``m`` rounded up to a whole number of ``mb``-row blocks."""
    return -(-m // mb) * mb


def feature_major_product(x: ir.Value, n: int, mb: int, call: Callable[[ir.Value, int], ir.Value]) -> ir.Value:
    """``[M, N]`` from ``call(xt, blocks)``, which returns ``yt [blocks, N, mb]`` for ``xt [blocks, K, mb]``."""
    m, k = ir.RankedTensorType(x.type).shape
    f32 = ir.F32Type.get()
    rows = padded_rows(m, mb)
    blocks = rows // mb
    if rows != m:  # whole activation blocks: the padding rows are zeros, their results dropped
        x = tensor.InsertSliceOp(x, zeros([rows, k], f32), [], [], [], [0, 0], [m, k], [1, 1]).result
    x3 = tensor.ExpandShapeOp(ir.RankedTensorType.get([blocks, mb, k], f32), x, [[0, 1], [2]], [], [blocks, mb, k]).result
    yt = call(transpose(x3, [0, 2, 1]), blocks)
    # The epilogue runs in the model's [rows, n] layout, after the transpose back: applied in the
    # kernel's [blocks, n, mb] layout (to let consecutive layers' transposes cancel) it made IREE
    # fuse the bias into a strided transpose dispatch, 1.6x slower for 2+ blocks (384->1536, M=197:
    # 1.99 ms vs 1.24 ms) and never faster on the chained MLPs measured.
    y3 = transpose(yt, [0, 2, 1])
    acc = tensor.CollapseShapeOp(ir.RankedTensorType.get([rows, n], f32), y3, [[0, 1], [2]]).result
    if rows != m:
        acc = tensor.ExtractSliceOp(ir.RankedTensorType.get([m, n], f32), acc, [], [], [], [0, 0], [m, n], [1, 1]).result
    return acc
