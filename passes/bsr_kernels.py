"""Block-sparse matmul kernels on the CPU: one index per BxB block, the block's rows sharing every activation load.

Blocks are stored column by column (``values [nb, B(column), B(row)]``), so a block's
column is a contiguous vector over its B output rows.

- One input row: the B output rows of a block row are one vector (16 lanes of float32
  for B = 16); each block column multiplies the column vector by one broadcast input
  value. Four accumulators per block row, over the block's columns in turn.
- Several rows (activations feature-major, ``xt [blocks, K, 16]`` as the K-blocked CSR
  kernel takes them): a register tile of (up to) 16 output rows x 16 activation rows.
  Per block column, one activation vector is loaded and multiplied into every output
  row of the tile by a broadcast weight value (the FMA's embedded broadcast on AVX-512),
  so each load feeds up to 16 FMAs, as a dense microkernel's does.
"""

from __future__ import annotations

from ..mlir import arith, func, ir, memref, scf, vector
from .dispatch_markers import WORKGROUPS_ATTR
from .ir_build import index_constant as _index
from .kernel_values import memref_element, to_f32

#: Activation rows per vector in the several-row kernel (one 512-bit vector of float32).
ACTIVATION_BLOCK = 16
#: Output rows in one register tile of the several-row kernel (16 x 16 accumulators at most).
TILE_ROWS = 16


def _zero(lanes: int) -> ir.Value:
    vec = ir.VectorType.get([lanes], ir.F32Type.get())
    return arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, ir.FloatAttr.get(ir.F32Type.get(), 0.0))).result


def _index_of(memref_value: ir.Value, position: ir.Value) -> ir.Value:
    return arith.IndexCastOp(ir.IndexType.get(), memref.LoadOp(memref_value, [position]).result).result


def _signature(n: int, nb: int, block: int, value_type: ir.Type) -> list[ir.Type]:
    i32 = ir.IntegerType.get_signless(32)
    return [
        ir.MemRefType.get([max(nb, 1), block, block], memref_element(value_type)),
        ir.MemRefType.get([max(nb, 1)], i32),
        ir.MemRefType.get([n // block + 1], i32),
    ]


def _block_row_range(wg: ir.Value, block_rows: int, total: int) -> scf.ForOp:
    """The loop over a workgroup's ``block_rows`` block rows (of ``total``), at the current insertion point."""
    first = arith.MulIOp(wg, _index(block_rows)).result
    last = arith.MinUIOp(arith.AddIOp(first, _index(block_rows)).result, _index(total)).result
    return scf.ForOp(first, last, _index(1))


def _blocks_of(offsets: ir.Value, br: ir.Value) -> tuple[ir.Value, ir.Value]:
    """The range of block indices of block row ``br``."""
    return _index_of(offsets, br), _index_of(offsets, arith.AddIOp(br, _index(1)).result)


def bsr_gemv_kernel(name: str, *, n: int, k: int, nb: int, block: int, value_type: ir.Type, block_rows: int) -> func.FuncOp:
    """One input row: ``y [n] = W x``; arguments: workgroup id, ``x [k]``, the BSR storage, ``y [n]``."""
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    vec = ir.VectorType.get([block], f32)
    stored_vec = ir.VectorType.get([block], memref_element(value_type))
    signature = [index, ir.MemRefType.get([k], f32), *_signature(n, nb, block, value_type), ir.MemRefType.get([n], f32)]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    total = n // block
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([-(-total // block_rows), 1, 1])
    entry = kernel.add_entry_block()
    wg, x, values, block_cols, offsets, y = entry.arguments
    chains = 4
    with ir.InsertionPoint(entry):
        rows_loop = _block_row_range(wg, block_rows, total)
        with ir.InsertionPoint(rows_loop.body):
            br = rows_loop.induction_variable
            start, end = _blocks_of(offsets, br)
            blocks = scf.ForOp(start, end, _index(1), [_zero(block)] * chains)
            with ir.InsertionPoint(blocks.body):
                blk = blocks.induction_variable
                base = arith.MulIOp(_index_of(block_cols, blk), _index(block)).result
                accs = list(blocks.inner_iter_args)
                for c in range(block):
                    xv = vector.BroadcastOp(vec, memref.LoadOp(x, [arith.AddIOp(base, _index(c)).result]).result).result
                    wv = to_f32(vector.LoadOp(stored_vec, values, [blk, _index(c), _index(0)]).result, value_type)
                    accs[c % chains] = vector.FMAOp(wv, xv, accs[c % chains]).result
                scf.YieldOp(accs)
            total_acc = blocks.results[0]
            for acc in list(blocks.results)[1:]:
                total_acc = arith.AddFOp(total_acc, acc).result
            vector.StoreOp(total_acc, y, [arith.MulIOp(br, _index(block)).result])
            scf.YieldOp([])
        func.ReturnOp([])
    return kernel


def bsr_blocked_kernel(name: str, *, n: int, k: int, nb: int, block: int, value_type: ir.Type, activation_blocks: int, block_rows: int) -> func.FuncOp:
    """Several rows: ``yt[b, r, :] = sum over blocks and columns c of W[r, c] * xt[b, c, :]``.

    Arguments: workgroup ids (x: block rows, y: activation block), ``xt [blocks, k, 16]``,
    the BSR storage, result ``yt [blocks, n, 16]``.
    """
    f32, index = ir.F32Type.get(), ir.IndexType.get()
    lanes = ACTIVATION_BLOCK
    vec = ir.VectorType.get([lanes], f32)
    signature = [
        index, index,
        ir.MemRefType.get([activation_blocks, k, lanes], f32),
        *_signature(n, nb, block, value_type),
        ir.MemRefType.get([activation_blocks, n, lanes], f32),
    ]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    total = n // block
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([-(-total // block_rows), activation_blocks, 1])
    entry = kernel.add_entry_block()
    wg_rows, wg_block, xt, values, block_cols, offsets, yt = entry.arguments
    tile = min(block, TILE_ROWS)
    with ir.InsertionPoint(entry):
        rows_loop = _block_row_range(wg_rows, block_rows, total)
        with ir.InsertionPoint(rows_loop.body):
            br = rows_loop.induction_variable
            start, end = _blocks_of(offsets, br)
            for row0 in range(0, block, tile):  # register tiles of the block row's output rows
                blocks = scf.ForOp(start, end, _index(1), [_zero(lanes)] * tile)
                with ir.InsertionPoint(blocks.body):
                    blk = blocks.induction_variable
                    base = arith.MulIOp(_index_of(block_cols, blk), _index(block)).result
                    accs = list(blocks.inner_iter_args)
                    for c in range(block):
                        xv = vector.LoadOp(vec, xt, [wg_block, arith.AddIOp(base, _index(c)).result, _index(0)]).result
                        for r in range(tile):
                            w = to_f32(memref.LoadOp(values, [blk, _index(c), _index(row0 + r)]).result, value_type)
                            accs[r] = vector.FMAOp(vector.BroadcastOp(vec, w).result, xv, accs[r]).result
                    scf.YieldOp(accs)
                out_row = arith.MulIOp(br, _index(block)).result
                for r, acc in enumerate(blocks.results):
                    vector.StoreOp(acc, yt, [wg_block, arith.AddIOp(out_row, _index(row0 + r)).result, _index(0)])
            scf.YieldOp([])
        func.ReturnOp([])
    return kernel
