"""Sparse matmuls as gathering contractions in plain linalg, for the GPU and Vulkan targets.

The stored weight is read as it is: each output row (or block row) holds a fixed
number of slots, each slot a value (or a BxB block) and the column it multiplies,
stored as the column itself or, for N:M weights (``group=(n, m)``), as the place of
the value inside its group of ``m`` columns (slot ``s`` lies in group ``s // n``).
The contraction gathers the activation columns it needs with ``tensor.extract``
inside a ``linalg.generic``, so IREE's GPU code generators tile and distribute it
like any reduction ("load sparse, compute dense" on registers) without a hand-written
dispatch, and no ``vector.gather`` is formed for the CPU to scalarise. Values are read
in the precision they are stored in and accumulated in float32
(:class:`sparsile.passes.slot_values.SlotValues`: 16-bit floats widened, int8 converted,
int4 unpacked and scaled by its group); the activation is float32.
"""

from __future__ import annotations

from collections.abc import Callable

from ..mlir import arith, ir, linalg, tensor
from .ir_build import elementwise, index_constant, transpose, zeros
from .slot_values import SlotValues

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


def _column_index(stored: ir.Value, slot: Callable[[], ir.Value], group: Group | None) -> ir.Value:
    """The activation column of a slot: the stored column, or ``(slot // n) * m + place`` for N:M storage."""
    column = _unsigned_index(stored)
    if group is None:
        return column
    n, m = group
    first = arith.MulIOp(arith.DivUIOp(slot(), index_constant(n)).result, index_constant(m)).result
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


def gathered_rows_matmul(x: ir.Value, values: SlotValues, cols: ir.Value, group: Group | None = None) -> ir.Value:
    """``y[m, n] = sum_j value(n, j) * x[m, column(n, j)]``: ``x [M, K]``, ``cols [N, W]``, ``values.values [N, W]``
    (``[N, W/lanes]`` where slots share a stored element: int4, Vulkan's 32-bit words).

    ``column(n, j)`` is ``cols[n, j]``, or ``(j // n') * m' + cols[n, j]`` for ``group=(n', m')``;
    ``value(n, j)`` the stored value as float32 (:meth:`SlotValues.read`).
    """
    m, _ = ir.RankedTensorType(x.type).shape
    n, _ = ir.RankedTensorType(cols.type).shape
    if m == 1:
        return _one_row(x, lambda x1: _rows_gemv(x1, values, cols, group), [n])

    return _slot_reduction(x, values, cols, group, result_shape=[m, n], value_lead=[1], cols_lead=[1], row=lambda: _loop_index(1),
                           x_rows=lambda: [_loop_index(0)])


def _rows_gemv(x1: ir.Value, values: SlotValues, cols: ir.Value, group: Group | None) -> ir.Value:
    n, _ = ir.RankedTensorType(cols.type).shape
    return _slot_reduction(x1, values, cols, group, result_shape=[n], value_lead=[0], cols_lead=[0], row=lambda: _loop_index(0), x_rows=list)


def _slot_reduction(
    x: ir.Value,
    values: SlotValues,
    cols: ir.Value,
    group: Group | None,
    *,
    result_shape: list[int],
    value_lead: list[int],
    cols_lead: list[int],
    row: Callable[[], ir.Value],
    x_rows: Callable[[], list[ir.Value]],
) -> ir.Value:
    """``sum over slots of value * x[*x_rows(), column]`` into ``result_shape``: one parallel loop per result
    dimension, then the slot loops (:attr:`SlotValues.slot_loops`). ``values`` and ``cols`` are indexed by
    the parallel loops ``value_lead`` and ``cols_lead`` and then the slot; ``row()`` is the weight row."""
    lead = len(result_shape)
    loops = lead + values.slot_loops
    d = [ir.AffineExpr.get_dim(i) for i in range(loops)]
    slot_dims = d[lead:]
    maps = [
        ir.AffineMap.get(loops, 0, [d[i] for i in value_lead] + slot_dims[:1]),
        ir.AffineMap.get(loops, 0, [d[i] for i in cols_lead] + slot_dims),
        ir.AffineMap.get(loops, 0, d[:lead]),
    ]
    iterators = [_PARALLEL] * lead + [_REDUCTION] * values.slot_loops

    def body(args: list[ir.Value]) -> ir.Value:
        stored, col, acc = args
        # The activation's row index first: built after the column, IREE's Vulkan compile of a 768x3072 ELL
        # layer at 8 rows took over 20 minutes instead of 5 s.
        x_index = x_rows()
        column = _column_index(col, lambda: values.slot_index(lead), group)
        weight = values.read(stored, lead, row, lambda: column)
        gathered = tensor.ExtractOp(x, [*x_index, column]).result
        return arith.AddFOp(acc, arith.MulFOp(weight, gathered).result).result

    result_type = ir.RankedTensorType.get(result_shape, ir.F32Type.get())
    return _contraction(result_type, [values.values, values.slot_columns(cols)], maps, iterators, body)


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


def block_rows_matmul(x: ir.Value, values: SlotValues, cols: ir.Value) -> ir.Value:
    """Blocked ELL: ``y[m, nb*B + r] = sum_s value(nb, r, s) * x[m, cols[nb, s]]`` (``values.values [NB, B, S]``,
    or ``[NB, B, S/lanes]`` where slots share an element; ``cols [NB, S]``).

    Several rows gather each block row's activation columns once, as a pure copy
    ``xg[nb, m, s] = x[m, cols[nb, s]]``, and multiply them by the dense blocks in a
    ``linalg.batch_matmul`` over block rows, ``y3[nb, m, r] = sum_s xg[nb, m, s] *
    values[nb, r, s]`` (``values`` read transposed through the indexing maps; float16,
    bfloat16 and int8 values widened by the matmul itself), laid back out as
    ``[M, NB*B]``: every batch is an ``M x S`` by ``S x B`` dense product, the shape of
    a tensor-core or cooperative-matrix tile. Values that share a stored element
    (int4, 32-bit words) are unpacked inside the same contraction, written as a generic
    with the batch matmul's loops and the slot split in two (no dequantized copy of the
    blocks: IREE would fold one into a float32 constant). One row is a GEMV over the
    slots instead (the batch matmul would pad its single row to a whole matrix tile).
    """
    m, _ = ir.RankedTensorType(x.type).shape
    nb, slots = ir.RankedTensorType(cols.type).shape
    b = ir.RankedTensorType(values.values.type).shape[1]
    f32 = ir.F32Type.get()
    if m == 1:
        return _one_row(x, lambda x1: _blocks_gemv(x1, values, cols), [nb, b])
    xg = _gathered_column_blocks(x, cols)
    if values.slot_loops == 1:
        d = [ir.AffineExpr.get_dim(i) for i in range(4)]  # (nb, m, r, s)
        maps = [ir.AffineMap.get(4, 0, [d[0], d[1], d[3]]), ir.AffineMap.get(4, 0, [d[0], d[2], d[3]]), ir.AffineMap.get(4, 0, [d[0], d[1], d[2]])]
        y3 = linalg.batch_matmul(xg, values.values, outs=[zeros([nb, m, b], f32)], indexing_maps=maps)
    else:
        y3 = _packed_block_products(xg, values, cols)
    y = transpose(y3, [1, 0, 2])
    return tensor.CollapseShapeOp(ir.RankedTensorType.get([m, nb * b], f32), y, [[0], [1, 2]]).result


def _packed_block_products(xg: ir.Value, values: SlotValues, cols: ir.Value) -> ir.Value:
    """``y3[nb, m, r] = sum_(w, l) value(nb, r, w, l) * xg[nb, m, w, l]`` for values sharing stored elements
    (slot ``w * lanes + l``); ``cols`` give int4 values their group scales."""
    nb, m, _ = ir.RankedTensorType(xg.type).shape
    b = ir.RankedTensorType(values.values.type).shape[1]
    d = [ir.AffineExpr.get_dim(i) for i in range(5)]  # (nb, m, r, word, lane)
    inputs = [values.slot_columns(xg), values.values]
    maps = [ir.AffineMap.get(5, 0, [d[0], d[1], d[3], d[4]]), ir.AffineMap.get(5, 0, [d[0], d[2], d[3]])]
    scaled = values.layout.quant.group > 0
    if scaled:
        inputs.append(values.slot_columns(cols))
        maps.append(ir.AffineMap.get(5, 0, [d[0], d[3], d[4]]))
    maps.append(ir.AffineMap.get(5, 0, [d[0], d[1], d[2]]))

    def row() -> ir.Value:
        return arith.AddIOp(arith.MulIOp(_loop_index(0), index_constant(b)).result, _loop_index(2)).result

    def body(args: list[ir.Value]) -> ir.Value:
        gathered, stored, *col, acc = args
        weight = values.read(stored, 3, row, lambda: _unsigned_index(col[0]))
        return arith.AddFOp(acc, arith.MulFOp(gathered, weight).result).result

    return _contraction(ir.RankedTensorType.get([nb, m, b], ir.F32Type.get()), inputs, maps, [_PARALLEL] * 3 + [_REDUCTION] * 2, body)


def _gathered_column_blocks(x: ir.Value, cols: ir.Value) -> ir.Value:
    """``xg[nb, m, s] = x[m, cols[nb, s]]``: each block row's activation columns, copied."""
    m, _ = ir.RankedTensorType(x.type).shape
    nb, slots = ir.RankedTensorType(cols.type).shape
    element = ir.RankedTensorType(x.type).element_type
    d = [ir.AffineExpr.get_dim(i) for i in range(3)]  # (nb, m, s)

    def body(args: list[ir.Value]) -> ir.Value:
        return tensor.ExtractOp(x, [_loop_index(1), _unsigned_index(args[0])]).result

    return elementwise([cols], [ir.AffineMap.get(3, 0, [d[0], d[2]])], ir.RankedTensorType.get([nb, m, slots], element), body)


def _blocks_gemv(x1: ir.Value, values: SlotValues, cols: ir.Value) -> ir.Value:
    nb, b = ir.RankedTensorType(values.values.type).shape[:2]

    def row() -> ir.Value:
        return arith.AddIOp(arith.MulIOp(_loop_index(0), index_constant(b)).result, _loop_index(1)).result

    return _slot_reduction(x1, values, cols, None, result_shape=[nb, b], value_lead=[0, 1], cols_lead=[0], row=row, x_rows=list)
