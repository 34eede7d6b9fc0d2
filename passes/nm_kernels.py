"""2:4 at batch 1 as a hand-written dispatch: selects instead of gathers, vectorised across rows.

For ``y = W x`` with one input row, each group of four inputs ``x[4g .. 4g+3]`` is
loaded once and broadcast; every output row keeps two of them, at positions
``p0 < p1`` of the group. Sixteen rows go in one vector: the two kept inputs are
picked with two compares and two selects per plane (``p0`` is 0, 1 or 2; ``p1``
is 1, 2 or 3) and multiplied by the two value planes. Weights are stored
row-block-major, ``[N/16, K/4, 2, 16]`` values and ``int8`` positions (packed by
:mod:`sparsile.passes.formats.nm`), so each block of rows streams through memory
sequentially. Half the value bytes of dense
plus a quarter for positions: the win at batch 1, where dense is bound by bytes.
"""

from __future__ import annotations

from ..mlir import arith, func, ir, memref, scf, vector
from .dispatch_markers import WORKGROUPS_ATTR
from .ir_build import index_constant as _index
from .kernel_values import FLOAT, Quantization, memref_element, nibbles_to_f32, to_f32

LANES = 16


def two_four_gemv_kernel(
    name: str, *, n: int, k: int, rows: int = 128, value_type: ir.Type | None = None, quant: Quantization = FLOAT
) -> func.FuncOp:
    """``y [n] = W x`` for a 2:4 ``W``; arguments: workgroup id, ``x [k]``, the two planes, int4's
    group scales ``[ceil(k / group), n]`` (rows contiguous, one vector per block of rows), ``y [n]``.

    The value plane holds ``value_type`` (f32 by default), widened to f32 as it is loaded;
    int8 and int4 values (int4 two lanes per byte, ``[n/16, k/4, 2, 8]``) are converted,
    int4 ones multiplied by their group's scales (int8 row scales are the epilogue's).
    """
    f32, i8 = ir.F32Type.get(), ir.IntegerType.get_signless(8)
    stored = value_type or f32
    vec, mask_vec = ir.VectorType.get([LANES], f32), ir.VectorType.get([LANES], i8)
    lanes_stored = LANES // 2 if quant.bits == 4 else LANES
    stored_vec = ir.VectorType.get([lanes_stored], memref_element(stored))
    blocks_per_group = rows // LANES
    groups = k // 4
    plane = [n // LANES, groups, 2, LANES]
    signature = [
        ir.IndexType.get(),
        ir.MemRefType.get([k], f32),
        ir.MemRefType.get([n // LANES, groups, 2, lanes_stored], memref_element(stored)),
        ir.MemRefType.get(plane, i8),
        *([ir.MemRefType.get([-(-k // quant.group), n], f32)] if quant.group else []),
        ir.MemRefType.get([n], f32),
    ]
    kernel = func.FuncOp(name, ir.FunctionType.get(signature, []), visibility="private")
    kernel.attributes[WORKGROUPS_ATTR] = ir.DenseI64ArrayAttr.get([n // rows, 1, 1])
    entry = kernel.add_entry_block()
    wg, x, values, positions, *scales, y = entry.arguments

    def load_values(block: ir.Value, g: ir.Value, plane_index: ir.Value, scale: ir.Value | None) -> ir.Value:
        raw = vector.LoadOp(stored_vec, values, [block, g, plane_index, _index(0)]).result
        value = nibbles_to_f32(raw) if quant.bits == 4 else to_f32(raw, stored)
        return value if scale is None else arith.MulFOp(value, scale).result

    with ir.InsertionPoint(entry):
        zero, one = _index(0), _index(1)
        acc0 = arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, ir.FloatAttr.get(f32, 0.0))).result
        slot = [
            arith.ConstantOp(mask_vec, ir.DenseElementsAttr.get_splat(mask_vec, ir.IntegerAttr.get(i8, p))).result
            for p in range(4)
        ]
        first_block = arith.MulIOp(wg, _index(blocks_per_group)).result
        blocks = [arith.AddIOp(first_block, _index(t)).result for t in range(blocks_per_group)]

        def group_scale(block: ir.Value, group: ir.Value) -> ir.Value:
            return vector.LoadOp(vec, scales[0], [group, arith.MulIOp(block, _index(LANES)).result]).result

        def step(g: ir.Value, accs: list[ir.Value], block_scales: list[ir.Value | None]) -> list[ir.Value]:
            """One group of four inputs into every block's accumulator (int4 values multiplied by ``block_scales`` where given)."""
            base = arith.MulIOp(g, _index(4)).result
            xs = [vector.BroadcastOp(vec, memref.LoadOp(x, [arith.AddIOp(base, _index(c)).result]).result).result for c in range(4)]

            def eq(p: ir.Value, c: int) -> ir.Value:
                return arith.CmpIOp(arith.CmpIPredicate.eq, p, slot[c]).result

            out = []
            for block, acc, scale in zip(blocks, accs, block_scales):
                v0 = load_values(block, g, zero, scale)
                v1 = load_values(block, g, one, scale)
                p0 = vector.LoadOp(mask_vec, positions, [block, g, zero, zero]).result
                p1 = vector.LoadOp(mask_vec, positions, [block, g, one, zero]).result
                s0 = arith.SelectOp(eq(p0, 0), xs[0], arith.SelectOp(eq(p0, 1), xs[1], xs[2]).result).result
                s1 = arith.SelectOp(eq(p1, 3), xs[3], arith.SelectOp(eq(p1, 2), xs[2], xs[1]).result).result
                out.append(vector.FMAOp(v1, s1, vector.FMAOp(v0, s0, acc).result).result)
            return out

        accs = [acc0] * blocks_per_group
        unscaled: list[ir.Value | None] = [None] * blocks_per_group
        start = 0
        if scales:
            # Whole scale groups: their inputs are summed unscaled and each block's sum scaled once
            # (a load and a multiply-add per group instead of a load and two multiplies per input group).
            per_scale = quant.group // 4
            start = groups // per_scale * per_scale
            if start:
                outer = scf.ForOp(zero, _index(groups // per_scale), one, accs)
                with ir.InsertionPoint(outer.body):
                    scale_group = outer.induction_variable
                    first = arith.MulIOp(scale_group, _index(per_scale)).result
                    inner = scf.ForOp(first, arith.AddIOp(first, _index(per_scale)).result, one, [acc0] * blocks_per_group)
                    with ir.InsertionPoint(inner.body):
                        scf.YieldOp(step(inner.induction_variable, list(inner.inner_iter_args), unscaled))
                    scf.YieldOp([vector.FMAOp(total, group_scale(block, scale_group), acc).result
                                 for block, total, acc in zip(blocks, inner.results, outer.inner_iter_args)])
                accs = list(outer.results)
        if start < groups:
            # The inputs past the last whole group all lie in one scale group: its scales are loaded once.
            tail = [group_scale(block, _index(start * 4 // quant.group)) for block in blocks] if scales else unscaled
            loop = scf.ForOp(_index(start), _index(groups), one, accs)
            with ir.InsertionPoint(loop.body):
                scf.YieldOp(step(loop.induction_variable, list(loop.inner_iter_args), tail))
            accs = list(loop.results)
        for block, acc in zip(blocks, accs):
            vector.StoreOp(acc, y, [arith.MulIOp(block, _index(LANES)).result])
        func.ReturnOp([])
    return kernel
