"""Sparse matmul kernels as hand-written dispatches: K-blocked CSR (batched) and scalar CSR (batch 1).

Why this shape (measured, see DESIGN.md section 3 and the kblocked-dispatch probe):
each nonzero costs one index load, one broadcast of its value and one FMA with a
contiguous row of the activations, which therefore live feature-major, ``xt
[M/MB, K, MB]``. K is cut into chunks processed outside the row loop so a chunk
of ``xt`` stays in L1 while all of a workgroup's rows use it. Nothing here is a
``vector.gather`` (IREE scalarises those). At batch 1 the kernel is scalar:
``P`` independent FMA chains over the row, 16-bit column indices where K allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..mlir import arith, func, ir, math, memref, scf, vector
from .dispatch_markers import WORKGROUPS_ATTR
from .ir_build import index_constant as _index
from .kernel_values import FLOAT, Quantization, memref_element, scalar_value


@dataclass(frozen=True)
class BlockedConfig:
    """Tile sizes of the K-blocked kernel: ``mb`` activation rows per vector, ``kc`` columns per
    chunk, ``rows`` output rows per workgroup, ``unroll`` nonzeros per step over ``chains`` accumulators."""

    mb: int
    kc: int
    rows: int
    unroll: int = 4
    chains: int = 2


#: Activation block widths: whole vector registers (or halves and quarters of one, for few rows).
BLOCK_WIDTHS = (2, 4, 8, 16, 32, 64, 128)


def activation_block(m: int) -> int:
    """The activation block (vector width) for ``m`` rows; rows are padded up to a multiple of it.

    Each block streams every nonzero once (an index load, a broadcast, the loop) and
    then does ``mb / 16`` vector FMAs, so a block costs about ``2 + mb / 16`` units and
    the choice minimises ``ceil(m / mb)`` blocks times that, less padding breaking ties.
    Odd widths are never used: a 31- or 33-row block (or 197 one-row blocks) ran 1.6-14x
    slower than dense in the shape sweep, where padded blocks do not.
    """
    def cost(mb: int) -> tuple[float, int]:
        blocks = -(-m // mb)
        return blocks * (2 + max(1.0, mb / 16)), blocks * mb

    return min(BLOCK_WIDTHS, key=cost)


def blocked_config(m: int, n: int, density: float) -> BlockedConfig:
    """The configuration for ``m`` activation rows, ``n`` outputs and a weight of ``density``.

    From sweeps on the benchmark shapes: with 128-row activation blocks, 64-column chunks
    keep ``xt`` in L1 and win for denser weights (2:4 at 1024 rows: 0.73 vs 1.08 of dense
    with 256), while sparse ones (10% and below) need 256-column chunks so a (row, chunk)
    holds enough nonzeros to pay for its loop (16x16 blocks at 90%: 0.27 vs 0.32).
    """
    mb = activation_block(m)
    kc = 256 if mb <= 32 or density < 0.2 else 64
    return BlockedConfig(mb=mb, kc=kc, rows=64 if n >= 2048 else 32)


def _tree_sum(values: list[ir.Value]) -> ir.Value:
    while len(values) > 1:
        paired = [arith.AddFOp(values[i], values[i + 1]).result for i in range(0, len(values) - 1, 2)]
        values = paired + ([values[-1]] if len(values) % 2 else [])
    return values[0]


def load_index(memref_value: ir.Value, position: ir.Value) -> ir.Value:
    """An i16/i32 memref element as an index (16-bit columns are unsigned)."""
    raw = memref.LoadOp(memref_value, [position]).result
    i32 = ir.IntegerType.get_signless(32)
    if ir.IntegerType(raw.type).width != 32:
        raw = arith.ExtUIOp(i32, raw).result
    return arith.IndexCastOp(ir.IndexType.get(), raw).result


def row_range(wg: ir.Value, rows: int, n: int) -> tuple[ir.Value, ir.Value]:
    """The first and past-the-last of the ``rows`` rows (of ``n``) that workgroup ``wg`` computes."""
    first = arith.MulIOp(wg, _index(rows)).result
    last = arith.AddIOp(first, _index(rows)).result
    if n % rows:
        last = arith.MinUIOp(last, _index(n)).result
    return first, last


def _accumulate(start: ir.Value, end: ir.Value, seed: ir.Value, zero: ir.Value, unroll: int, chains: int, term) -> ir.Value:
    """seed + sum over l in [start, end) of term(l, acc), unrolled with independent chains and a remainder loop."""
    one, step = _index(1), _index(unroll)
    whole = arith.MulIOp(arith.DivUIOp(arith.SubIOp(end, start).result, step).result, step).result
    middle = arith.AddIOp(start, whole).result
    loop = scf.ForOp(start, middle, step, [seed] + [zero] * (chains - 1))
    with ir.InsertionPoint(loop.body):
        accs = list(loop.inner_iter_args)
        for u in range(unroll):
            position = loop.induction_variable if u == 0 else arith.AddIOp(loop.induction_variable, _index(u)).result
            accs[u % chains] = term(position, accs[u % chains])
        scf.YieldOp(accs)
    rest = scf.ForOp(middle, end, one, [_tree_sum(list(loop.results))])
    with ir.InsertionPoint(rest.body):
        scf.YieldOp([term(rest.induction_variable, rest.inner_iter_args[0])])
    return rest.results[0]


@dataclass(frozen=True)
class CsrValues:
    """How a CSR kernel's values are stored: ``nnz`` of them, as ``value_type`` (f32, f16, bf16, or i8
    for int8 and, two per byte, int4), dequantized with ``quant`` (int4 group scales in the kernel)."""

    nnz: int
    value_type: ir.Type
    quant: Quantization = FLOAT

    def memrefs(self, n: int, k: int) -> list[ir.Type]:
        """The values' memref, then the group scales' where the kernel applies them."""
        slots = -(-self.nnz // 2) if self.quant.bits == 4 else self.nnz
        types = [ir.MemRefType.get([max(slots, 1)], memref_element(self.value_type))]
        if self.quant.group:
            types.append(ir.MemRefType.get([n, -(-k // self.quant.group)], ir.F32Type.get()))
        return types

    def value(self, values: ir.Value, scales: ir.Value | None, position: ir.Value, row: ir.Value, column: ir.Value) -> ir.Value:
        """Value ``position`` (row ``row``, column ``column``) as float32, with its group scale."""
        value = scalar_value(values, self.value_type, position, self.quant)
        if scales is None:
            return value
        group = arith.DivUIOp(column, _index(self.quant.group)).result
        return arith.MulFOp(value, memref.LoadOp(scales, [row, group]).result).result


def blocked_csr_kernel(name: str, *, n: int, k: int, blocks: int, col_type: ir.Type, config: BlockedConfig, values_spec: CsrValues) -> func.FuncOp:
    """``yt[b, r, :] = sum_l values[l] * xt[b, cols[l], :]`` over the chunked CSR of ``pack_chunked_csr``.

    Arguments: workgroup ids (x: row block, y: activation block), ``xt [blocks, k, mb]``,
    ``values`` (:class:`CsrValues`, widened or dequantized to f32), ``cols [nnz]``,
    ``offsets [chunks * n + 1]``, int4's group ``scales``, result ``yt [blocks, n, mb]``.
    """
    c = config
    chunks = -(-k // c.kc)
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    vec = ir.VectorType.get([c.mb], f32)
    value_memref, *scale_memref = values_spec.memrefs(n, k)
    signature = [
        index,
        index,
        ir.MemRefType.get([blocks, k, c.mb], f32),
        value_memref,
        ir.MemRefType.get([max(values_spec.nnz, 1)], col_type),
        ir.MemRefType.get([chunks * n + 1], ir.IntegerType.get_signless(32)),
        *scale_memref,
        ir.MemRefType.get([blocks, n, c.mb], f32),
    ]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([-(-n // c.rows), blocks, 1])
    entry = kernel.add_entry_block()
    wg_rows, wg_block, xt, values, cols, offsets, *scales, yt = entry.arguments
    scale = scales[0] if scales else None
    with ir.InsertionPoint(entry):
        zero_index, one = _index(0), _index(1)
        zero = arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, ir.FloatAttr.get(f32, 0.0))).result
        first, last = row_range(wg_rows, c.rows, n)

        def row(slot: ir.Value, r: ir.Value, seed: ir.Value) -> ir.Value:
            def term(position: ir.Value, acc: ir.Value) -> ir.Value:
                column = load_index(cols, position)
                x = vector.LoadOp(vec, xt, [wg_block, column, zero_index]).result
                weight = vector.BroadcastOp(vec, values_spec.value(values, scale, position, r, column)).result
                return vector.FMAOp(weight, x, acc).result

            start = load_index(offsets, slot)
            end = load_index(offsets, arith.AddIOp(slot, one).result)
            return _accumulate(start, end, seed, zero, c.unroll, c.chains, term)

        if chunks == 1:  # no K-blocking: keep the row in registers, store once
            rows_loop = scf.ForOp(first, last, one)
            with ir.InsertionPoint(rows_loop.body):
                r = rows_loop.induction_variable
                vector.StoreOp(row(r, r, zero), yt, [wg_block, r, zero_index])
                scf.YieldOp([])
        else:
            clear = scf.ForOp(first, last, one)
            with ir.InsertionPoint(clear.body):
                vector.StoreOp(zero, yt, [wg_block, clear.induction_variable, zero_index])
                scf.YieldOp([])
            chunk_loop = scf.ForOp(zero_index, _index(chunks), one)
            with ir.InsertionPoint(chunk_loop.body):
                base = arith.MulIOp(chunk_loop.induction_variable, _index(n)).result
                rows_loop = scf.ForOp(first, last, one)
                with ir.InsertionPoint(rows_loop.body):
                    r = rows_loop.induction_variable
                    running = vector.LoadOp(vec, yt, [wg_block, r, zero_index]).result
                    vector.StoreOp(row(arith.AddIOp(base, r).result, r, running), yt, [wg_block, r, zero_index])
                    scf.YieldOp([])
                scf.YieldOp([])
        func.ReturnOp([])
    return kernel


def scalar_csr_kernel(
    name: str, *, n: int, k: int, col_type: ir.Type, values_spec: CsrValues, rows: int = 256, unroll: int = 8, chains: int = 4
) -> func.FuncOp:
    """Batch 1: ``y[r] = sum_l values[l] * x[cols[l]]`` over plain CSR, ``rows`` rows per workgroup.

    Arguments: workgroup id, ``x [k]``, ``values`` (:class:`CsrValues`, widened or dequantized
    to f32), ``cols [nnz]``, ``offsets [n + 1]``, int4's group ``scales``, result ``y [n]``.
    """
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    value_memref, *scale_memref = values_spec.memrefs(n, k)
    signature = [
        index,
        ir.MemRefType.get([k], f32),
        value_memref,
        ir.MemRefType.get([max(values_spec.nnz, 1)], col_type),
        ir.MemRefType.get([n + 1], ir.IntegerType.get_signless(32)),
        *scale_memref,
        ir.MemRefType.get([n], f32),
    ]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([-(-n // rows), 1, 1])
    entry = kernel.add_entry_block()
    wg, x, values, cols, offsets, *scales, y = entry.arguments
    scale = scales[0] if scales else None
    with ir.InsertionPoint(entry):
        one = _index(1)
        zero = arith.ConstantOp(f32, ir.FloatAttr.get(f32, 0.0)).result
        first, last = row_range(wg, rows, n)

        rows_loop = scf.ForOp(first, last, one)
        with ir.InsertionPoint(rows_loop.body):
            r = rows_loop.induction_variable

            def term(position: ir.Value, acc: ir.Value) -> ir.Value:
                column = load_index(cols, position)
                xv = memref.LoadOp(x, [column]).result
                return math.FmaOp(values_spec.value(values, scale, position, r, column), xv, acc).result

            start = load_index(offsets, r)
            end = load_index(offsets, arith.AddIOp(r, one).result)
            memref.StoreOp(_accumulate(start, end, zero, zero, unroll, chains, term), y, [r])
            scf.YieldOp([])
        func.ReturnOp([])
    return kernel
