"""How hand-written kernels read stored weight values: as float32, whatever they are stored in.

Weights keep the precision the model gave them (float16 and bfloat16 stay 16-bit in
the artifact, half the bytes a batch-1 kernel streams) or the precision the user asked
for (:class:`Quantization`: int8 with one scale per output row, int4 with one scale per
128 input columns), and every kernel accumulates in float32, as torch does on the
CPU. Widening is exact; dequantizing is ``q * scale``. int4 values are stored two per
byte, the even element in the low nibble.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from ..mlir import arith, ir, llvm, math, memref, vector
from .ir_build import elementwise, index_constant

#: Element types a weight's values may be stored in as floats (widened to f32 in the kernels).
FLOAT_STORAGE = ("f32", "f16", "bf16")
#: The numpy dtypes of those element types.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
#: Lanes of one weight tile (a 512-bit vector of float32).
LANES = 16


@dataclass(frozen=True)
class Quantization:
    """How stored integer values map back to the weight: ``q * scale``.

    ``bits`` 0 means the values are floats as stored; 8 is int8 with one scale per
    output row (``group`` 0); 4 is int4 with one scale per ``group`` input columns.
    """

    bits: int = 0
    group: int = 0


#: No quantization: float values as stored.
FLOAT = Quantization()


def is_float_storage(weight: np.ndarray) -> bool:
    """Whether ``weight``'s values can be stored as they are (float32, float16 or bfloat16)."""
    return weight.dtype in FLOAT_DTYPES


def _f32_like(t: ir.Type) -> ir.Type:
    f32 = ir.F32Type.get()
    return ir.VectorType.get(ir.VectorType(t).shape, f32) if isinstance(t, ir.VectorType) else f32


def _like(t: ir.Type, element: ir.Type) -> ir.Type:
    return ir.VectorType.get(ir.VectorType(t).shape, element) if isinstance(t, ir.VectorType) else element


def _element(t: ir.Type) -> ir.Type:
    return ir.VectorType(t).element_type if isinstance(t, ir.VectorType) else t


def memref_element(stored: ir.Type) -> ir.Type:
    """What a kernel's memref of ``stored`` values holds: 16-bit floats as their bit patterns (``i16``).

    LLVM scalarises ``expandload`` of ``f16``/``bf16`` vectors on x86 (50x slower than the
    ``vpexpandw`` it emits for ``i16``) and has no native bfloat16 arithmetic: the kernels
    move the bits and widen them themselves (:func:`to_f32`).
    """
    if isinstance(stored, (ir.F16Type, ir.BF16Type)):
        return ir.IntegerType.get_signless(16)
    return stored


def widen(value: ir.Value) -> ir.Value:
    """A float scalar or vector as float32 (``arith.extf`` where it is narrower)."""
    t = value.type
    if isinstance(_element(t), ir.F32Type):
        return value
    return arith.ExtFOp(_f32_like(t), value).result


def as_float32(x: ir.Value) -> ir.Value:
    """An activation tensor in float32 (half-precision models feed some matmuls half-precision inputs)."""
    t = ir.RankedTensorType(x.type)
    if isinstance(t.element_type, ir.F32Type):
        return x
    identity = ir.AffineMap.get_identity(t.rank)
    return elementwise([x], [identity], ir.RankedTensorType.get(list(t.shape), ir.F32Type.get()), lambda args: widen(args[0]))


def to_f32(raw: ir.Value, stored: ir.Type) -> ir.Value:
    """Values loaded from a :func:`memref_element` memref of ``stored`` values, as float32.

    Floats are widened (bfloat16 by moving its bits into the high half of a float32,
    exactly what the conversion is), integers converted as signed.
    """
    t = raw.type
    if isinstance(stored, ir.BF16Type):
        i32 = ir.IntegerType.get_signless(32)
        wide = arith.ExtUIOp(_like(t, i32), raw).result
        if isinstance(t, ir.VectorType):
            sixteen = arith.ConstantOp(_like(t, i32), ir.DenseElementsAttr.get_splat(_like(t, i32), ir.IntegerAttr.get(i32, 16))).result
        else:
            sixteen = arith.ConstantOp(i32, 16).result
        return arith.BitcastOp(_f32_like(t), arith.ShLIOp(wide, sixteen).result).result
    if isinstance(stored, ir.F16Type):
        return widen(arith.BitcastOp(_like(t, stored), raw).result)
    if isinstance(_element(t), ir.IntegerType):
        return arith.SIToFPOp(_f32_like(t), raw).result
    return widen(raw)


def _splat_i8(value: int, lanes: int) -> ir.Value:
    i8 = ir.IntegerType.get_signless(8)
    vec = ir.VectorType.get([lanes], i8)
    return arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, ir.IntegerAttr.get(i8, value))).result


def unpack_nibbles(packed: ir.Value) -> ir.Value:
    """``vector<Bxi8>`` of packed int4 pairs -> ``vector<2Bxi8>`` of sign-extended values, low nibble first."""
    lanes = ir.VectorType(packed.type).shape[0]
    four = _splat_i8(4, lanes)
    low = arith.ShRSIOp(arith.ShLIOp(packed, four).result, four).result
    high = arith.ShRSIOp(packed, four).result
    order = [j // 2 + (lanes if j % 2 else 0) for j in range(2 * lanes)]
    return vector.ShuffleOp(low, high, order).result


def nibbles_to_f32(packed: ir.Value) -> ir.Value:
    """``vector<Bxi8>`` of packed int4 pairs -> ``vector<2Bxf32>`` of their values, low nibble first.

    x86 has no 8-bit shifts (LLVM emulates :func:`unpack_nibbles`' with 16-bit shifts,
    masks and sign fix-ups, then interleaves): here each byte is duplicated, sign-extended
    to 32 bits, and lane ``2j`` keeps its low nibble and lane ``2j + 1`` its high one by one
    per-lane left shift (28 or 24, ``vpsllvd``) and one arithmetic right shift by 28.
    """
    lanes = ir.VectorType(packed.type).shape[0]
    i32 = ir.IntegerType.get_signless(32)
    wide = ir.VectorType.get([2 * lanes], i32)
    doubled = vector.ShuffleOp(packed, packed, [j // 2 for j in range(2 * lanes)]).result
    extended = arith.ExtSIOp(wide, doubled).result
    up = ir.DenseElementsAttr.get(np.array([28 if j % 2 == 0 else 24 for j in range(2 * lanes)], dtype=np.int32), type=wide)
    down = ir.DenseElementsAttr.get_splat(wide, ir.IntegerAttr.get(i32, 28))
    shifted = arith.ShLIOp(extended, arith.ConstantOp(wide, up).result).result
    values = arith.ShRSIOp(shifted, arith.ConstantOp(wide, down).result).result
    return arith.SIToFPOp(ir.VectorType.get([2 * lanes], ir.F32Type.get()), values).result


def load_tile(values: ir.Value, stored: ir.Type, row: ir.Value, column: ir.Value, quant: Quantization) -> ir.Value:
    """The ``LANES`` values of ``stored`` type at ``values [row, column:column+LANES]`` as float32 (before any group scale).

    For int4 the memref holds bytes, ``[rows, columns / 2]``.
    """
    element = ir.MemRefType(values.type).element_type
    if quant.bits == 4:
        byte = arith.DivUIOp(column, index_constant(2)).result
        packed = vector.LoadOp(ir.VectorType.get([LANES // 2], element), values, [row, byte]).result
        return nibbles_to_f32(packed)
    return to_f32(vector.LoadOp(ir.VectorType.get([LANES], element), values, [row, column]).result, stored)


def tile_mask(bits: ir.Value) -> ir.Value:
    """An ``i16`` of tile bits as ``vector<16xi1>`` (bit j is lane j)."""
    i16 = ir.IntegerType.get_signless(16)
    word = vector.BroadcastOp(ir.VectorType.get([1], i16), bits).result
    return vector.BitCastOp(ir.VectorType.get([LANES], ir.IntegerType.get_signless(1)), word).result


def expand_tile(
    values: ir.Value, stored: ir.Type, start: ir.Value, bits: ir.Value, quant: Quantization,
    scratch: ir.Value | None = None, lanes_table: ir.Value | None = None,
) -> ir.Value:
    """The tile whose nonzero lanes (set ``bits``, an i16) take consecutive ``stored`` values from ``values[start]``, as float32.

    int4 tiles start at byte ``start`` (each tile's nibbles padded to whole bytes): the
    eight bytes there are unpacked into ``scratch`` (a ``memref<16xi8>``) and expanded from it.
    With ``lanes_table`` (:func:`permute_lanes_table`, a ``memref<256x16xi32>``) the tile is
    expanded by permutes instead of ``vector.expandload`` (:func:`_permute_expand`).
    """
    if quant.bits == 4:
        if scratch is None:
            raise ValueError("expanding int4 values needs a scratch buffer")
        i8 = ir.IntegerType.get_signless(8)
        packed = vector.LoadOp(ir.VectorType.get([LANES // 2], i8), values, [start]).result
        vector.StoreOp(unpack_nibbles(packed), scratch, [index_constant(0)])
        values, start = scratch, index_constant(0)
    if lanes_table is not None:
        return _permute_expand(values, stored, start, bits, lanes_table)
    element = ir.MemRefType(values.type).element_type
    vec = ir.VectorType.get([LANES], element)
    zero = arith.ConstantOp(vec, ir.DenseElementsAttr.get_splat(vec, _zero_attr(element))).result
    return to_f32(vector.ExpandLoadOp(vec, values, [start], tile_mask(bits), zero).result, stored)


#: Lanes one AVX2 permute moves (``vpermps``: eight float32).
PERMUTE_LANES = 8


def permute_lanes_table() -> np.ndarray:
    """``[256, 16]`` int32, one 64-byte row per 8-bit mask: lane ``i``'s index among the mask's
    set lanes (columns 0-7; 0 where unset), then lane ``i``'s keep mask (columns 8-15: all
    ones where set, 0 where unset).

    Where lane ``i`` is set, it takes the value after the ``popcount(mask & (2**i - 1))``
    values of the lanes below it. The keep masks zero the unset lanes with one ``vandps``
    that reads them from memory; deriving them from the indices took a compare per half
    tile and a register to hold it (117 instructions per mask word, 16 of them stack
    spills and reloads, against 85 and none).
    """
    masks = np.arange(256)[:, None]
    lanes = np.arange(PERMUTE_LANES)[None, :]
    below = np.bitwise_count((masks & ((1 << lanes) - 1)).astype(np.uint8)).astype(np.int32)
    kept = ((masks >> lanes) & 1).astype(bool)
    return np.concatenate([np.where(kept, below, 0), np.where(kept, -1, 0)], axis=1).astype(np.int32)


def _permute_expand(values: ir.Value, stored: ir.Type, start: ir.Value, bits: ir.Value, table: ir.Value) -> ir.Value:
    """:func:`expand_tile` without an expand instruction (AVX2): per half of the tile, eight
    values are loaded where its nonzeros start, widened to float32 and moved to their lanes
    by ``vpermps`` with the indices ``table`` holds for the half's 8 mask bits; unset lanes
    are zeroed by and-ing with the keep masks beside them. The loads may read up to seven
    values past the last nonzero (the storage keeps spare values there).

    MLIR's vector dialect has no register permute with run-time indices that LLVM keeps
    (``vector.gather`` is scalarised, ``vector.shuffle`` takes constant masks), so the
    permute is LLVM's AVX2 intrinsic.
    """
    i32, f32, index = ir.IntegerType.get_signless(32), ir.F32Type.get(), ir.IndexType.get()
    lanes_i32, lanes_f32 = ir.VectorType.get([PERMUTE_LANES], i32), ir.VectorType.get([PERMUTE_LANES], f32)
    element = ir.MemRefType(values.type).element_type
    wide = arith.ExtUIOp(i32, bits).result
    halves, position = [], start
    for half in range(LANES // PERMUTE_LANES):
        shifted = wide if half == 0 else arith.ShRUIOp(wide, arith.ConstantOp(i32, PERMUTE_LANES * half).result).result
        mask = arith.AndIOp(shifted, arith.ConstantOp(i32, 0xFF).result).result
        row = arith.IndexCastOp(index, mask).result
        lanes = vector.LoadOp(lanes_i32, table, [row, index_constant(0)]).result
        keep = vector.LoadOp(lanes_i32, table, [row, index_constant(PERMUTE_LANES)]).result
        raw = vector.LoadOp(ir.VectorType.get([PERMUTE_LANES], element), values, [position]).result
        moved = llvm.CallIntrinsicOp(lanes_f32, "llvm.x86.avx2.permps", [to_f32(raw, stored), lanes], [], []).result
        kept = arith.AndIOp(vector.BitCastOp(lanes_i32, moved).result, keep).result
        halves.append(vector.BitCastOp(lanes_f32, kept).result)
        if half + 1 < LANES // PERMUTE_LANES:
            position = arith.AddIOp(position, arith.IndexCastOp(index, math.CtPopOp(mask).result).result).result
    return vector.ShuffleOp(halves[0], halves[1], list(range(LANES))).result


def scalar_value(values: ir.Value, stored: ir.Type, position: ir.Value, quant: Quantization) -> ir.Value:
    """Value ``position`` of a :func:`memref_element` memref of ``stored`` values as float32 (int4: nibble ``position``)."""
    if quant.bits != 4:
        return to_f32(memref.LoadOp(values, [position]).result, stored)
    i8 = ir.IntegerType.get_signless(8)
    byte = memref.LoadOp(values, [arith.ShRUIOp(position, index_constant(1)).result]).result
    odd = arith.IndexCastOp(i8, arith.AndIOp(position, index_constant(1)).result).result
    four = arith.ConstantOp(i8, 4).result
    # The even value is the low nibble: shift it to the top first; both end sign-extended by >> 4.
    shift = arith.SubIOp(four, arith.MulIOp(odd, four).result).result
    return arith.SIToFPOp(ir.F32Type.get(), arith.ShRSIOp(arith.ShLIOp(byte, shift).result, four).result).result


def _zero_attr(element: ir.Type) -> ir.Attribute:
    if isinstance(element, ir.IntegerType):
        return ir.IntegerAttr.get(element, 0)
    return ir.FloatAttr.get(element, 0.0)


def dequantize_tile(tile: ir.Value, scale: ir.Value | None) -> ir.Value:
    """``tile * scale`` where a group scale applies, else the tile."""
    return tile if scale is None else arith.MulFOp(tile, scale).result
