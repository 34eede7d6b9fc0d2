"""Few-row kernels that stream a weight once, row by row, in tiles of 16 input columns.

For a handful of activation rows (batch-1 decode, small batches) a layer is bound by
the bytes of its weight, so the kernel's job is to move as few as possible and turn
them into float32 lanes cheaply ("load sparse, compute dense"). Each output row is
read as tiles of :data:`LANES` consecutive weights, either

- *dense* tiles: the row's values as they are stored, or
- *bitmask* tiles: a 16-bit mask of the tile's nonzeros (four tiles per 64-bit word)
  and the nonzeros packed; ``vector.expandload`` (``vexpandps`` / ``vpexpandb`` on
  AVX-512 VBMI2), or on AVX2 two ``vpermps`` with indices from a 256-entry table
  (and the table's keep masks zeroing the unset lanes), puts them back in their lanes and the pointer moves by the mask's popcount.
  The popcounts of a word's four tiles are independent, so the only serial
  dependency is one add per word.

Each tile is widened (float16, bfloat16) or dequantized (int8, int4 with a scale per
128 columns) to float32 and multiplied into one accumulator per activation row (or
several independent ones when there are few rows); a row's sums are reduced
horizontally once and stored straight into ``y [M, N]`` in the model's layout, so no
transpose surrounds the dispatch (int8 row scales are left to the kernel's epilogue).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mlir import arith, func, ir, math, memref, scf, vector
from .dispatch_markers import WORKGROUPS_ATTR
from .ir_build import index_constant as _index
from .kernel_values import LANES, PERMUTE_LANES, Quantization, dequantize_tile, expand_tile, load_tile, memref_element

#: Tiles per 64-bit mask word.
TILES_PER_WORD = 4
#: Columns of one mask word: the padded reduction dimension of bitmask storage is a multiple of it.
WORD_COLUMNS = LANES * TILES_PER_WORD
#: Independent accumulators wanted in flight per output row (FMA latency x throughput).
ACCUMULATORS = 4
#: The most activation rows the row kernel takes (one accumulator, or more, per row in registers).
MAX_ROWS = 8


def workgroup_rows(n: int) -> int:
    """Output rows per workgroup for ``n`` outputs: enough workgroups to spread over the cores, few enough to amortise each."""
    return 64 if n >= 4096 else 32 if n >= 512 else 16


@dataclass(frozen=True)
class RowKernel:
    """The shape of one row kernel: ``m`` activation rows, ``n`` outputs, ``kp`` padded columns.

    ``tiles`` is ``dense`` or ``bitmask``; ``value_type`` the stored element type (``i8``
    also for packed int4, with ``quant.bits == 4``); ``rows`` output rows per workgroup;
    ``nnz`` the length of the packed values (bitmask); ``expand`` how bitmask tiles are
    expanded: ``expandload`` or ``permute`` (AVX2, with a lanes table operand).
    """

    m: int
    n: int
    kp: int
    tiles: str
    value_type: ir.Type
    quant: Quantization
    rows: int
    nnz: int = 0
    expand: str = "expandload"

    @property
    def chains(self) -> int:
        """Accumulators per activation row: several for one or two rows, so FMAs overlap."""
        return max(1, min(TILES_PER_WORD, -(-ACCUMULATORS // self.m)))


def row_kernel(name: str, spec: RowKernel) -> func.FuncOp:
    """``y [m, n] = x [m, kp] @ W^T`` over ``spec``'s storage.

    Arguments: workgroup id, ``x [m, kp]`` (f32, zero-padded), the storage (dense:
    ``values [n, kp]``, or ``[n, kp/2]`` bytes for int4; bitmask: ``masks [n, kp/64]``
    i64, ``values [nnz]``, ``offsets [n + 1]`` i32, and with ``expand = permute`` the
    ``lanes [256, 16]`` i32 table of :func:`~sparsile.passes.kernel_values.permute_lanes_table`), then int4's group ``scales``
    (``[n, ceil(kp/group)]``), and the result ``y [m, n]``. int8 sums leave unscaled: the
    epilogue applies the row scales.
    """
    f32, i32, i64 = ir.F32Type.get(), ir.IntegerType.get_signless(32), ir.IntegerType.get_signless(64)
    index = ir.IndexType.get()
    words = spec.kp // WORD_COLUMNS
    if spec.tiles == "dense":
        width = spec.kp // 2 if spec.quant.bits == 4 else spec.kp
        storage = [ir.MemRefType.get([spec.n, width], memref_element(spec.value_type))]
    else:
        storage = [
            ir.MemRefType.get([spec.n, words], i64),
            ir.MemRefType.get([max(spec.nnz, 1)], memref_element(spec.value_type)),
            ir.MemRefType.get([spec.n + 1], i32),
        ]
        if spec.expand == "permute":
            storage.append(ir.MemRefType.get([256, 2 * PERMUTE_LANES], i32))
    if spec.quant.group:
        storage.append(ir.MemRefType.get([spec.n, -(-spec.kp // spec.quant.group)], f32))
    signature = [index, ir.MemRefType.get([spec.m, spec.kp], f32), *storage, ir.MemRefType.get([spec.m, spec.n], f32)]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([-(-spec.n // spec.rows), 1, 1])
    entry = kernel.add_entry_block()
    args = list(entry.arguments)
    wg, x, y = args[0], args[1], args[-1]
    operands = args[2:-1]
    scales = operands.pop() if spec.quant.group else None
    with ir.InsertionPoint(entry):
        first = arith.MulIOp(wg, _index(spec.rows)).result
        last = arith.MinUIOp(arith.AddIOp(first, _index(spec.rows)).result, _index(spec.n)).result
        rows_loop = scf.ForOp(first, last, _index(1))
        with ir.InsertionPoint(rows_loop.body):
            row = rows_loop.induction_variable
            if spec.tiles == "dense":
                sums = _dense_row(spec, x, operands[0], scales, row)
            else:
                masks, values, offsets, *table = operands
                sums = _bitmask_row(spec, x, masks, values, offsets, scales, row, table[0] if table else None)
            for i, total in enumerate(sums):
                memref.StoreOp(total, y, [_index(i), row])
            scf.YieldOp([])
        func.ReturnOp([])
    return kernel


def _zero_vector() -> ir.Value:
    vec = ir.VectorType.get([LANES], ir.F32Type.get())
    return arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, ir.FloatAttr.get(ir.F32Type.get(), 0.0))).result


def _reduce(accumulators: list[ir.Value]) -> ir.Value:
    """The horizontal sum of some vector accumulators (added lane-wise first)."""
    total = accumulators[0]
    for acc in accumulators[1:]:
        total = arith.AddFOp(total, acc).result
    fast = ir.Attribute.parse("#arith.fastmath<reassoc>")
    return vector.ReductionOp(ir.F32Type.get(), vector.CombiningKind.ADD, total, fastmath=fast).result


def _group_scale(spec: RowKernel, scales: ir.Value | None, row: ir.Value, column: ir.Value) -> ir.Value | None:
    """The int4 group scale of ``column`` in ``row``, broadcast to a tile (None when not grouped)."""
    if scales is None or not spec.quant.group:
        return None
    group = arith.DivUIOp(column, _index(spec.quant.group)).result
    return vector.BroadcastOp(ir.VectorType.get([LANES], ir.F32Type.get()), memref.LoadOp(scales, [row, group]).result).result


def _multiply_into(spec: RowKernel, x: ir.Value, weight: ir.Value, column: ir.Value, accs: list[ir.Value], chain: int) -> list[ir.Value]:
    """Each activation row's accumulator ``chain`` += ``weight * x[i, column:column+16]``."""
    vec = ir.VectorType.get([LANES], ir.F32Type.get())
    out = list(accs)
    for i in range(spec.m):
        tile = vector.LoadOp(vec, x, [_index(i), column]).result
        slot = i * spec.chains + chain
        out[slot] = vector.FMAOp(weight, tile, out[slot]).result
    return out


def _dense_row(spec: RowKernel, x: ir.Value, values: ir.Value, scales: ir.Value | None, row: ir.Value) -> list[ir.Value]:
    tiles = spec.kp // LANES
    zero = _zero_vector()
    start, accs = 0, [zero] * (spec.m * spec.chains)
    if scales is not None and spec.quant.group and spec.kp >= spec.quant.group:
        start, accs = _scaled_groups(spec, x, values, scales, row, accs)
    step = spec.chains
    whole = start + (tiles - start) // step * step

    def tile_step(loop: scf.ForOp, count: int) -> list[ir.Value]:
        accs = list(loop.inner_iter_args)
        for u in range(count):
            t = loop.induction_variable if u == 0 else arith.AddIOp(loop.induction_variable, _index(u)).result
            column = arith.MulIOp(t, _index(LANES)).result
            weight = dequantize_tile(load_tile(values, spec.value_type, row, column, spec.quant), _group_scale(spec, scales, row, column))
            accs = _multiply_into(spec, x, weight, column, accs, u % spec.chains)
        return accs

    results = accs
    if start < whole:
        loop = scf.ForOp(_index(start), _index(whole), _index(step), results)
        with ir.InsertionPoint(loop.body):
            scf.YieldOp(tile_step(loop, step))
        results = list(loop.results)
    if whole < tiles:
        rest = scf.ForOp(_index(whole), _index(tiles), _index(1), results)
        with ir.InsertionPoint(rest.body):
            scf.YieldOp(tile_step(rest, 1))
        results = list(rest.results)
    return [_reduce(results[i * spec.chains : (i + 1) * spec.chains]) for i in range(spec.m)]


def _scaled_groups(spec: RowKernel, x: ir.Value, values: ir.Value, scales: ir.Value, row: ir.Value,
                   accs: list[ir.Value]) -> tuple[int, list[ir.Value]]:
    """The row's whole int4 scale groups: each group's tiles are summed unscaled and the sums scaled
    once (a multiply-add per accumulator and group instead of a multiply and a scale load per tile).

    Returns the first tile left over (those past the last whole group) and the accumulators.
    """
    group = spec.quant.group
    group_tiles = group // LANES
    zero = _zero_vector()
    vec = ir.VectorType.get([LANES], ir.F32Type.get())
    loop = scf.ForOp(_index(0), _index(spec.kp // group), _index(1), accs)
    with ir.InsertionPoint(loop.body):
        g = loop.induction_variable
        first = arith.MulIOp(g, _index(group)).result
        sums = [zero] * len(accs)
        for u in range(group_tiles):
            column = arith.AddIOp(first, _index(u * LANES)).result
            sums = _multiply_into(spec, x, load_tile(values, spec.value_type, row, column, spec.quant), column, sums, u % spec.chains)
        scale = vector.BroadcastOp(vec, memref.LoadOp(scales, [row, g]).result).result
        scf.YieldOp([vector.FMAOp(total, scale, acc).result for total, acc in zip(sums, loop.inner_iter_args)])
    return spec.kp // group * group_tiles, list(loop.results)


def _tile_starts(spec: RowKernel, word: ir.Value, pointer: ir.Value) -> tuple[list[ir.Value], ir.Value]:
    """Where each of a mask word's tiles starts in the values, and where the next word's do.

    Values are counted in elements; int4 tiles in bytes, each tile's nibbles padded to a
    whole byte. Each start depends on the word alone, not on the tiles before it.
    """
    i64, index = ir.IntegerType.get_signless(64), ir.IndexType.get()

    def count(value: ir.Value) -> ir.Value:
        return arith.IndexCastOp(index, math.CtPopOp(value).result).result

    if spec.quant.bits != 4:
        starts = [pointer]
        for u in range(1, TILES_PER_WORD):
            below = arith.AndIOp(word, arith.ConstantOp(i64, (1 << (16 * u)) - 1).result).result
            starts.append(arith.AddIOp(pointer, count(below)).result)
        return starts, arith.AddIOp(pointer, count(word)).result
    starts, position = [], pointer
    for u in range(TILES_PER_WORD):
        starts.append(position)
        tile = arith.AndIOp(arith.ShRUIOp(word, arith.ConstantOp(i64, 16 * u).result).result, arith.ConstantOp(i64, 0xFFFF).result).result
        nbytes = arith.ShRUIOp(arith.AddIOp(count(tile), _index(1)).result, _index(1)).result
        position = arith.AddIOp(position, nbytes).result
    return starts, position


def _bitmask_row(
    spec: RowKernel, x: ir.Value, masks: ir.Value, values: ir.Value, offsets: ir.Value, scales: ir.Value | None, row: ir.Value,
    table: ir.Value | None,
) -> list[ir.Value]:
    i64, index = ir.IntegerType.get_signless(64), ir.IndexType.get()
    i16, i8 = ir.IntegerType.get_signless(16), ir.IntegerType.get_signless(8)
    words = spec.kp // WORD_COLUMNS
    zero = _zero_vector()
    # int4 tiles are unpacked into a buffer of their own before they are expanded (no register expand in MLIR's vector dialect).
    scratch = [memref.AllocaOp(ir.MemRefType.get([LANES], i8), [], []).result for _ in range(TILES_PER_WORD)] if spec.quant.bits == 4 else None
    start = arith.IndexCastOp(index, memref.LoadOp(offsets, [row]).result).result
    loop = scf.ForOp(_index(0), _index(words), _index(1), [zero] * (spec.m * spec.chains) + [start])
    with ir.InsertionPoint(loop.body):
        q = loop.induction_variable
        *accs, pointer = loop.inner_iter_args
        word = memref.LoadOp(masks, [row, q]).result
        base = arith.MulIOp(q, _index(WORD_COLUMNS)).result
        starts, advanced = _tile_starts(spec, word, pointer)
        for u in range(TILES_PER_WORD):
            shifted = word if u == 0 else arith.ShRUIOp(word, arith.ConstantOp(i64, 16 * u).result).result
            bits = arith.TruncIOp(i16, shifted).result
            column = arith.AddIOp(base, _index(LANES * u)).result
            tile = expand_tile(values, spec.value_type, starts[u], bits, spec.quant, scratch[u] if scratch else None, table)
            weight = dequantize_tile(tile, _group_scale(spec, scales, row, column))
            accs = _multiply_into(spec, x, weight, column, accs, u % spec.chains)
        scf.YieldOp([*accs, advanced])
    results = list(loop.results)[:-1]
    return [_reduce(results[i * spec.chains : (i + 1) * spec.chains]) for i in range(spec.m)]
