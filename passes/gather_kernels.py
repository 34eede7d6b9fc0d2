"""Sparse matmuls as gathering contractions in plain linalg, for the GPU and Vulkan targets.

The stored weight is read as it is: each output row (or block row) holds a fixed
number of slots, each slot a value (or a BxB block) and the column it multiplies,
stored as the column itself or, for N:M weights (``group=(n, m)``), as the place of
the value inside its group of ``m`` columns (slot ``s`` lies in group ``s // n``).
The contraction gathers the activation columns it needs with ``tensor.extract``
inside a ``linalg.generic``, so IREE's GPU code generators tile and distribute it
like any reduction ("load sparse, compute dense" on registers) without a hand-written
dispatch, and no ``vector.gather`` is formed for the CPU to scalarise.
"""

from __future__ import annotations

from ..mlir import arith, ir, linalg, tensor
from .ir_build import elementwise, index_constant, transpose, zeros

_PARALLEL = "#linalg.iterator_type<parallel>"
_REDUCTION = "#linalg.iterator_type<reduction>"


#: N:M storage: a slot's stored index is its place in a group of ``m`` columns holding ``n`` slots.
Group = tuple[int, int]


def _unsigned_index(stored: ir.Value) -> ir.Value:
    """An ``index`` from a stored integer: narrower than 32 bits read unsigned, 32-bit as it is."""
    width = ir.IntegerType(stored.type).width
    if width < 32:
        stored = arith.ExtUIOp(ir.IntegerType.get_signless(32), stored).result
    return arith.IndexCastOp(ir.IndexType.get(), stored).result


def _column_index(stored: ir.Value, slot_dim: int, group: Group | None) -> ir.Value:
    """The activation column of a slot: the stored column, or ``(slot // n) * m + place`` for N:M storage."""
    column = _unsigned_index(stored)
    if group is None:
        return column
    n, m = group
    slot = _loop_index(slot_dim)
    first = arith.MulIOp(arith.DivUIOp(slot, index_constant(n)).result, index_constant(m)).result
    return arith.AddIOp(first, column).result


def _contraction(
    result_type: ir.RankedTensorType,
    inputs: list[ir.Value],
    maps: list[ir.AffineMap],
    iterators: list[str],
    body,
) -> ir.Value:
    init = zeros(list(result_type.shape), result_type.element_type)
    op = linalg.GenericOp(
        [result_type],
        inputs,
        [init],
        ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps]),
        ir.ArrayAttr.get([ir.Attribute.parse(i) for i in iterators]),
    )
    types = [ir.RankedTensorType(v.type).element_type for v in inputs] + [result_type.element_type]
    block = op.regions[0].blocks.append(*types)
    with ir.InsertionPoint(block):
        linalg.YieldOp([body(list(block.arguments))])
    return op.results[0]


def gathered_rows_matmul(x: ir.Value, values: ir.Value, cols: ir.Value, group: Group | None = None) -> ir.Value:
    """``y[m, n] = sum_j values[n, j] * x[m, column(n, j)]``: ``x [M, K]``, ``values``/``cols [N, W]``.

    ``column(n, j)`` is ``cols[n, j]``, or ``(j // n') * m' + cols[n, j]`` for ``group=(n', m')``.
    """
    m, _ = ir.RankedTensorType(x.type).shape
    n, _ = ir.RankedTensorType(values.type).shape
    element = ir.RankedTensorType(x.type).element_type
    if m == 1:
        return _one_row(x, lambda x1: _rows_gemv(x1, values, cols, group), [n])
    d = [ir.AffineExpr.get_dim(i) for i in range(3)]  # (m, n, j)
    maps = [ir.AffineMap.get(3, 0, [d[1], d[2]]), ir.AffineMap.get(3, 0, [d[1], d[2]]), ir.AffineMap.get(3, 0, [d[0], d[1]])]

    def body(args: list[ir.Value]) -> ir.Value:
        value, col, acc = args
        gathered = tensor.ExtractOp(x, [_loop_index(0), _column_index(col, 2, group)]).result
        return arith.AddFOp(acc, arith.MulFOp(value, gathered).result).result

    return _contraction(ir.RankedTensorType.get([m, n], element), [values, cols], maps, [_PARALLEL, _PARALLEL, _REDUCTION], body)


def _rows_gemv(x1: ir.Value, values: ir.Value, cols: ir.Value, group: Group | None) -> ir.Value:
    n, _ = ir.RankedTensorType(values.type).shape
    element = ir.RankedTensorType(x1.type).element_type
    d = [ir.AffineExpr.get_dim(i) for i in range(2)]  # (n, j)
    maps = [ir.AffineMap.get(2, 0, [d[0], d[1]]), ir.AffineMap.get(2, 0, [d[0], d[1]]), ir.AffineMap.get(2, 0, [d[0]])]

    def body(args: list[ir.Value]) -> ir.Value:
        value, col, acc = args
        gathered = tensor.ExtractOp(x1, [_column_index(col, 1, group)]).result
        return arith.AddFOp(acc, arith.MulFOp(value, gathered).result).result

    return _contraction(ir.RankedTensorType.get([n], element), [values, cols], maps, [_PARALLEL, _REDUCTION], body)


def _loop_index(dim: int) -> ir.Value:
    return linalg.IndexOp(ir.IntegerAttr.get(ir.IntegerType.get_signless(64), dim)).result


def _one_row(x: ir.Value, gemv, shape: list[int]) -> ir.Value:
    """A one-row product as a GEMV on ``x [1, K]`` collapsed to ``[K]``, expanded back to ``[1, N]``.

    The canonical GEMV form (one parallel loop, one reduction, no row index) is what
    IREE's GPU reduction pipelines recognise.
    """
    _, k = ir.RankedTensorType(x.type).shape
    element = ir.RankedTensorType(x.type).element_type
    x1 = tensor.CollapseShapeOp(ir.RankedTensorType.get([k], element), x, [[0, 1]]).result
    y = gemv(x1)
    total = 1
    for size in shape:
        total *= size
    flat = y if len(shape) == 1 else tensor.CollapseShapeOp(ir.RankedTensorType.get([total], element), y, [list(range(len(shape)))]).result
    return tensor.ExpandShapeOp(ir.RankedTensorType.get([1, total], element), flat, [[0, 1]], [], [1, total]).result


def block_rows_matmul(x: ir.Value, values: ir.Value, cols: ir.Value) -> ir.Value:
    """Blocked ELL: ``y[m, nb*B + r] = sum_s values[nb, r, s] * x[m, cols[nb, s]]`` (``values [NB, B, S]``, ``cols [NB, S]``).

    Several rows gather each block row's activation columns once, as a pure copy
    ``xg[nb, m, s] = x[m, cols[nb, s]]``, and multiply them by the dense blocks in a
    ``linalg.batch_matmul`` over block rows, ``y3[nb, m, r] = sum_s xg[nb, m, s] *
    values[nb, r, s]`` (``values`` read transposed through the indexing maps), laid
    back out as ``[M, NB*B]``: every batch is an ``M x S`` by ``S x B`` dense product, the
    shape of a tensor-core or cooperative-matrix tile. One row is a GEMV over the
    slots instead (the batch matmul would pad its single row to a whole matrix tile).
    """
    m, _ = ir.RankedTensorType(x.type).shape
    nb, b, _ = ir.RankedTensorType(values.type).shape
    element = ir.RankedTensorType(x.type).element_type
    if m == 1:
        return _one_row(x, lambda x1: _blocks_gemv(x1, values, cols), [nb, b])
    xg = _gathered_column_blocks(x, cols)
    d = [ir.AffineExpr.get_dim(i) for i in range(4)]  # (nb, m, r, s)
    maps = [ir.AffineMap.get(4, 0, [d[0], d[1], d[3]]), ir.AffineMap.get(4, 0, [d[0], d[2], d[3]]), ir.AffineMap.get(4, 0, [d[0], d[1], d[2]])]
    y3 = linalg.batch_matmul(xg, values, outs=[zeros([nb, m, b], element)], indexing_maps=maps)
    y = transpose(y3, [1, 0, 2])
    return tensor.CollapseShapeOp(ir.RankedTensorType.get([m, nb * b], element), y, [[0], [1, 2]]).result


def _gathered_column_blocks(x: ir.Value, cols: ir.Value) -> ir.Value:
    """``xg[nb, m, s] = x[m, cols[nb, s]]``: each block row's activation columns, copied."""
    m, _ = ir.RankedTensorType(x.type).shape
    nb, slots = ir.RankedTensorType(cols.type).shape
    element = ir.RankedTensorType(x.type).element_type
    d = [ir.AffineExpr.get_dim(i) for i in range(3)]  # (nb, m, s)

    def body(args: list[ir.Value]) -> ir.Value:
        return tensor.ExtractOp(x, [_loop_index(1), _column_index(args[0], 2, None)]).result

    return elementwise([cols], [ir.AffineMap.get(3, 0, [d[0], d[2]])], ir.RankedTensorType.get([nb, m, slots], element), body)


def _blocks_gemv(x1: ir.Value, values: ir.Value, cols: ir.Value) -> ir.Value:
    nb, b, _ = ir.RankedTensorType(values.type).shape
    element = ir.RankedTensorType(x1.type).element_type
    d = [ir.AffineExpr.get_dim(i) for i in range(3)]  # (nb, r, s)
    maps = [ir.AffineMap.get(3, 0, [d[0], d[1], d[2]]), ir.AffineMap.get(3, 0, [d[0], d[2]]), ir.AffineMap.get(3, 0, [d[0], d[1]])]

    def body(args: list[ir.Value]) -> ir.Value:
        value, col, acc = args
        gathered = tensor.ExtractOp(x1, [_column_index(col, 2, None)]).result
        return arith.AddFOp(acc, arith.MulFOp(value, gathered).result).result

    return _contraction(ir.RankedTensorType.get([nb, b], element), [values, cols], maps, [_PARALLEL, _PARALLEL, _REDUCTION], body)
