"""Products of activations with a dense quantized weight (int8 rows, int4 groups).

For a few activation rows the weight's bytes decide, and the row kernel
(:mod:`sparsile.passes.row_kernels`, dense tiles) streams the integers once and
dequantizes them in registers. For more rows the work is the multiply-adds: the weight
is dequantized to float32 by one elementwise generic and multiplied by IREE's own
matmul. int8 results still need their row scale (the kernels' epilogue applies it);
int4 group scales are applied here.
"""

from __future__ import annotations

from ..mlir import arith, ir, linalg, tensor
from .dispatch_markers import dispatch, module_of, unique_symbol
from .ir_build import elementwise, matmul, transpose, zeros
from .kernel_values import LANES, Quantization
from .row_kernels import MAX_ROWS, RowKernel, row_kernel


def padded_to_tiles(k: int) -> int:
    """The width of dense quantized storage: ``k`` rounded up to whole tiles of :data:`LANES` columns."""
    return -(-k // LANES) * LANES


def pad_columns(x: ir.Value, width: int) -> ir.Value:
    """``x [M, K]`` zero-padded to ``[M, width]``."""
    m, k = ir.RankedTensorType(x.type).shape
    if width == k:
        return x
    element = ir.RankedTensorType(x.type).element_type
    return tensor.InsertSliceOp(x, zeros([m, width], element), [], [], [], [0, 0], [m, k], [1, 1]).result


def quantized_product(anchor: ir.Operation, x: ir.Value, values: ir.Value, scales: ir.Value, quant: Quantization, rows: int) -> ir.Value:
    """``x [M, K] @ Q^T`` for the quantized ``[N, kp]`` weight in ``values`` (int4: ``[N, kp/2]`` bytes).

    The result lacks int8's row scales (the epilogue applies them) and has int4's group
    scales applied. ``anchor`` is an op inside the module the row kernel is added to;
    ``rows`` the row kernel's output rows per workgroup.
    """
    m = ir.RankedTensorType(x.type).shape[0]
    n, width = ir.RankedTensorType(values.type).shape
    kp = width * 2 if quant.bits == 4 else width
    f32 = ir.F32Type.get()
    if m <= MAX_ROWS:
        x = pad_columns(x, kp)
        spec = RowKernel(m=m, n=n, kp=kp, tiles="dense", value_type=ir.RankedTensorType(values.type).element_type, quant=quant, rows=rows)
        module = module_of(anchor)
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = row_kernel(unique_symbol(module, "sparsile_kernel_"), spec)
        operands = [x, values, scales] if quant.group else [x, values]
        return dispatch(module, body, operands, ir.RankedTensorType.get([m, n], f32))
    weight = dequantized(values, scales, quant, with_row_scales=False)
    return matmul(pad_columns(x, ir.RankedTensorType(weight.type).shape[1]), transpose(weight, [1, 0]))


def dequantized(values: ir.Value, scales: ir.Value | None, quant: Quantization, *, with_row_scales: bool = True) -> ir.Value:
    """The float32 weight of quantized ``values`` (int4 group scales always applied; int8 row scales if asked).

    ``[N, kp]`` for int8; int4 is dequantized a whole scale group at a time, ``[N, groups * group]``
    (the padding columns are zero), so that no index map needs a division.
    """
    n, width = ir.RankedTensorType(values.type).shape
    f32 = ir.F32Type.get()
    d0, d1 = ir.AffineExpr.get_dim(0), ir.AffineExpr.get_dim(1)
    if quant.bits != 4:
        inputs, maps = [values], [ir.AffineMap.get(2, 0, [d0, d1])]
        if with_row_scales and scales is not None:
            inputs.append(scales)
            maps.append(ir.AffineMap.get(2, 0, [d0]))

        def body(args: list[ir.Value]) -> ir.Value:
            value = arith.SIToFPOp(f32, args[0]).result
            return arith.MulFOp(value, args[1]).result if len(args) > 1 else value

        return elementwise(inputs, maps, ir.RankedTensorType.get([n, width], f32), body)
    # int4: iterate [N, groups, group/2, 2]; element h of byte j of group g is column g * group + 2j + h.
    assert scales is not None
    half = quant.group // 2
    groups = -(-width // half)
    d2 = ir.AffineExpr.get_dim(2)
    i8 = ir.IntegerType.get_signless(8)
    if groups * half != width:  # the last group's missing bytes are zeros
        values = tensor.InsertSliceOp(values, zeros([n, groups * half], i8), [], [], [], [0, 0], [n, width], [1, 1]).result
    grouped = tensor.ExpandShapeOp(ir.RankedTensorType.get([n, groups, half], i8), values, [[0], [1, 2]], [], [n, groups, half]).result

    def nibble(args: list[ir.Value]) -> ir.Value:
        byte, scale = args
        high = arith.IndexCastOp(i8, linalg.IndexOp(3).result).result
        # low nibble: (b << 4) >> 4; high nibble: b >> 4 (arithmetic shifts sign-extend).
        shift = arith.SubIOp(arith.ConstantOp(i8, 4).result, arith.MulIOp(high, arith.ConstantOp(i8, 4).result).result).result
        value = arith.ShRSIOp(arith.ShLIOp(byte, shift).result, arith.ConstantOp(i8, 4).result).result
        return arith.MulFOp(arith.SIToFPOp(f32, value).result, scale).result

    pairs = elementwise(
        [grouped, scales],
        [ir.AffineMap.get(4, 0, [d0, d1, d2]), ir.AffineMap.get(4, 0, [d0, d1])],
        ir.RankedTensorType.get([n, groups, half, 2], f32),
        nibble,
    )
    return tensor.CollapseShapeOp(ir.RankedTensorType.get([n, groups * quant.group], f32), pairs, [[0], [1, 2, 3]]).result
