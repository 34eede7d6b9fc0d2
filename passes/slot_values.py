"""The values of slot storage (``ell``, ``nmell``, ``bell``) in every precision, packed and read back.

The GPU storage formats hold a fixed number of slots per row; a slot's value is stored
as the weight gives it (float32, float16 or bfloat16, widened to float32 where the
gathering contraction reads it) or quantized (:mod:`sparsile.passes.quantization`):
``int8`` values with ``scales [N]``, one per output row, applied by the kernel's
epilogue, or ``int4`` values two per byte along the slots (slot ``2j`` in the low nibble
of byte ``j``) with ``scales [N, ceil(K/128)]``, the scale of the 128 input columns a
value's column lies in, which the contraction looks up by the value's row and column.

On Vulkan (``params["word_values"]``) values narrower than 32 bits are stored in 32-bit
words instead, ``32 / bits`` consecutive slots per word, slot ``j`` of word ``w`` in bits
``bits * j`` up (float16 and bfloat16 as their bit patterns, int8, int4), and unpacked
with integer shifts where the contraction reads them. IREE 3.13's generic Vulkan target
has no 8- or 16-bit storage and emulates narrow buffers with 32-bit words itself; on
lavapipe that emulation misreads float16 values in every format, int4 bytes in the
gathering contraction, and 16-bit and 8-bit values in the blocked matmul (and fails to
compile some of them), while 32-bit words are read right everywhere. The float16
bit patterns are widened with integer operations too (that target has no float16
arithmetic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ml_dtypes
import numpy as np

from ..mlir import arith, ir, linalg, tensor
from .ir_build import index_constant
from .kernel_values import FLOAT, FLOAT_STORAGE, Quantization, widen
from .quantization import dequantize, pack_nibbles, quantize, scheme, scheme_name, unpack_nibbles

if TYPE_CHECKING:
    from .kernel_ops import Kernel

Storage = dict[str, np.ndarray]

#: The values a 32-bit word may hold (``params["word_values"]``), and their bits.
WORD_VALUES = {"f16": 16, "bf16": 16, "i8": 8, "i4": 4}
_WORD_DTYPES = {"f16": np.dtype(np.float16), "bf16": np.dtype(ml_dtypes.bfloat16)}


@dataclass(frozen=True)
class ValueLayout:
    """How a format's ``values`` hold its slots: ``lanes`` slots of ``bits`` bits per stored element.

    ``kind`` is what a slot holds: ``float`` (a float element per slot, any of
    f32/f16/bf16), ``f16`` or ``bf16`` (bit patterns in 32-bit words), ``i8`` or ``i4``.
    """

    kind: str
    bits: int
    lanes: int
    quant: Quantization
    words: bool

    @property
    def element(self) -> tuple[str, ...]:
        """The element types ``values`` may have."""
        if self.words:
            return ("i32",)
        return ("i8",) if self.quant.bits else FLOAT_STORAGE


def value_layout(params: dict[str, Any]) -> ValueLayout:
    """The layout ``params`` give the values (``quant`` and ``word_values``; checked by :func:`values_problem`)."""
    quant = scheme(str(params["quant"])) if params.get("quant") else FLOAT
    word = params.get("word_values")
    if word:
        bits = WORD_VALUES[str(word)]
        return ValueLayout(str(word), bits, 32 // bits, quant, True)
    if quant.bits == 4:
        return ValueLayout("i4", 4, 2, quant, False)
    if quant.bits == 8:
        return ValueLayout("i8", 8, 1, quant, False)
    return ValueLayout("float", 32, 1, quant, False)


def word_values(weight_dtype: np.dtype, quant: Quantization) -> str | None:
    """What Vulkan storage packs into 32-bit words for a weight of ``weight_dtype`` stored with ``quant`` (None: 32-bit values)."""
    if quant.bits:
        return f"i{quant.bits}"
    if weight_dtype == np.float16:
        return "f16"
    if weight_dtype == ml_dtypes.bfloat16:
        return "bf16"
    return None


def value_params(params: dict[str, Any], target: str, quant: Quantization = FLOAT, dtype: np.dtype | None = None) -> dict[str, Any]:
    """``params`` saying how the values are stored: ``quant`` (the scheme's name) and, on ``vulkan``,
    ``word_values`` (what its 32-bit words hold). ``dtype`` is the weight's (it matters only unquantized)."""
    out = {k: v for k, v in params.items() if k not in ("quant", "word_values")}
    if quant.bits:
        out["quant"] = scheme_name(quant)
    word = word_values(np.dtype(dtype or np.float32), quant) if target == "vulkan" else None
    if word:
        out["word_values"] = word
    return out


def slot_lanes(params: dict[str, Any]) -> int:
    """Slots per stored element: the slots of a row (or block row) must be a multiple of it."""
    return value_layout(params).lanes


def pack_values(weight: np.ndarray, params: dict[str, Any], pack_slots: Callable[[np.ndarray], Storage]) -> Storage:
    """The storage of ``weight`` by ``pack_slots`` (a format's packer of a dense ``[N, K]`` array),
    with its values quantized and packed as ``params`` say, and the scales after them."""
    layout = value_layout(params)
    scales = None
    if layout.quant.bits:
        quantized = quantize(weight, layout.quant)
        weight, scales = quantized.q, quantized.scales
    storage = pack_slots(weight)
    values = storage["values"]
    if layout.words:
        if layout.quant.bits:
            values = values.view(np.uint8) & np.uint8((1 << layout.bits) - 1)
        storage["values"] = _to_words(values.view(np.uint8 if layout.bits <= 8 else np.uint16), layout.bits)
    elif layout.kind == "i4":
        storage["values"] = np.ascontiguousarray(pack_nibbles(values))
    return storage if scales is None else {**storage, "scales": scales}


def unpack_values(storage: Storage, params: dict[str, Any], unpack_slots: Callable[[Storage], np.ndarray]) -> np.ndarray:
    """The dense ``[N, K]`` weight of ``storage`` (dequantized to float32 where it is quantized)."""
    layout = value_layout(params)
    values = storage["values"]
    if layout.words:
        lanes = _from_words(values, layout.bits)
        if layout.kind in _WORD_DTYPES:
            values = lanes.astype(np.uint16).view(_WORD_DTYPES[layout.kind])
        else:  # sign-extend the low ``bits`` bits
            half = 1 << (layout.bits - 1)
            values = ((lanes.astype(np.int16) ^ half) - half).astype(np.int8)
    elif layout.kind == "i4":
        values = unpack_nibbles(values)
    dense = unpack_slots({**storage, "values": values})
    return dequantize(dense, storage["scales"], layout.quant) if layout.quant.bits else dense


def _to_words(lanes: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ``bits``-bit lanes ``[..., S]`` as int32 words ``[..., S*bits/32]``, lane ``j`` of a word in bits ``bits*j`` up."""
    per_word = 32 // bits
    grouped = lanes.astype(np.uint32).reshape(*lanes.shape[:-1], -1, per_word)
    shifts = (np.arange(per_word, dtype=np.uint32) * bits).astype(np.uint32)
    words = np.bitwise_or.reduce(grouped << shifts, axis=-1)
    return np.ascontiguousarray(words.astype(np.uint32).view(np.int32))


def _from_words(words: np.ndarray, bits: int) -> np.ndarray:
    """The unsigned lanes (uint32) of :func:`_to_words` words, ``[..., S]``."""
    per_word = 32 // bits
    shifts = (np.arange(per_word, dtype=np.uint32) * bits).astype(np.uint32)
    lanes = (words.view(np.uint32)[..., None] >> shifts) & np.uint32((1 << bits) - 1)
    return lanes.reshape(*words.shape[:-1], -1)


def expected_values(params: dict[str, Any], slots: list[int], shape: tuple[int, int]) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
    """The ``values`` entry (``slots`` with the last dimension divided by the lanes) and, quantized, the ``scales`` one."""
    layout = value_layout(params)
    values = ("values", [*slots[:-1], slots[-1] // layout.lanes], layout.element)
    if not layout.quant.bits:
        return [values]
    quant = layout.quant
    scales = [shape[0], -(-shape[1] // quant.group)] if quant.group else [shape[0]]
    return [values, ("scales", scales, ("f32",))]


def values_problem(params: dict[str, Any], slots: int) -> str | None:
    """What is wrong with ``params["quant"]`` and ``params["word_values"]`` for rows of ``slots`` slots, or None."""
    quant = FLOAT
    if params.get("quant") is not None:
        try:
            quant = scheme(str(params["quant"]))
        except ValueError as err:
            return str(err)
    word = params.get("word_values")
    if word is not None:
        if word not in WORD_VALUES:
            return f"word_values must be one of {', '.join(WORD_VALUES)}, got {word!r}"
        if (quant.bits and word != f"i{quant.bits}") or (not quant.bits and word not in _WORD_DTYPES):
            return f"word_values {word!r} does not hold {params.get('quant') or 'float'} values"
    lanes = value_layout(params).lanes
    if slots % lanes:
        return f"{lanes} slots share a stored element: the slots per row ({slots}) must be a multiple of {lanes}"
    return None


def scales_problem(storage: Storage) -> str | None:
    """What is wrong with quantized storage's ``scales`` (a scale is finite and not negative), or None."""
    scales = storage.get("scales")
    if scales is not None and not (np.all(np.isfinite(scales)) and np.all(scales >= 0)):
        return "storage 'scales' must hold finite scales >= 0"
    return None


def stored_values(storage: Storage, params: dict[str, Any]) -> int:
    """How many values (slots) ``storage`` holds."""
    return int(storage["values"].size) * value_layout(params).lanes


def describe_values(params: dict[str, Any]) -> str:
    """What the values are when not the weight's own floats (`` (int8)``, `` (f16 in 32-bit words)``), else nothing."""
    layout = value_layout(params)
    what = str(params["quant"]) if layout.quant.bits else layout.kind
    if layout.words:
        return f" ({what} in 32-bit words)"
    return f" ({what})" if layout.quant.bits else ""


@dataclass(frozen=True)
class SlotValues:
    """A contraction's view of stored slot values: ``values`` as laid out by ``layout``, and for int4 the
    group ``scales [N, G]``.

    Where several slots share a stored element (int4 bytes, 32-bit words) the contraction
    iterates a slot as two loops, the element and the lane in it (:attr:`slot_loops` 2):
    every indexing map stays a projection, which IREE's GPU code generators tile as they
    tile any contraction.
    """

    values: ir.Value
    layout: ValueLayout
    scales: ir.Value | None = None

    @classmethod
    def of(cls, kernel: Kernel) -> SlotValues:
        """The values of ``kernel``'s storage (its int4 group scales with them)."""
        storage = kernel.storage_values
        layout = value_layout(kernel.params)
        return cls(storage["values"], layout, storage["scales"] if layout.quant.group else None)

    @property
    def slot_loops(self) -> int:
        """Loops per slot: 1, or 2 (element, then lane) where slots share an element."""
        return 2 if self.layout.lanes > 1 else 1

    def slot_columns(self, cols: ir.Value) -> ir.Value:
        """``cols [..., S]`` (or anything indexed by slot) as the contraction reads it: ``[..., S/lanes, lanes]`` where slots share an element."""
        lanes = self.layout.lanes
        if lanes == 1:
            return cols
        t = ir.RankedTensorType(cols.type)
        *lead, slots = t.shape
        shape = [*lead, slots // lanes, lanes]
        groups = [[i] for i in range(len(lead))] + [[len(lead), len(lead) + 1]]
        return tensor.ExpandShapeOp(ir.RankedTensorType.get(shape, t.element_type), cols, groups, [], shape).result

    def slot_index(self, first_loop: int) -> ir.Value:
        """The slot the body computes (an ``index``), its loops starting at ``first_loop``."""
        slot = linalg.IndexOp(first_loop).result
        if self.layout.lanes == 1:
            return slot
        lane = linalg.IndexOp(first_loop + 1).result
        return arith.AddIOp(arith.MulIOp(slot, index_constant(self.layout.lanes)).result, lane).result

    def read(self, stored: ir.Value, first_loop: int, row: Callable[[], ir.Value], column: Callable[[], ir.Value]) -> ir.Value:
        """The float32 value of the slot whose stored element is ``stored``, in weight ``row()`` at input
        ``column()`` (both ``index``, asked for only where an int4 group scale applies)."""
        layout = self.layout
        f32 = ir.F32Type.get()
        if layout.lanes == 1:
            return arith.SIToFPOp(f32, stored).result if layout.quant.bits else widen(stored)
        element = stored.type
        width = ir.IntegerType(element).width
        lane = arith.IndexCastOp(element, linalg.IndexOp(first_loop + 1).result).result
        if layout.kind in _WORD_DTYPES:
            low = arith.ShRUIOp(stored, arith.MulIOp(lane, _int(element, layout.bits)).result).result
            half = arith.AndIOp(low, _int(element, 0xFFFF)).result
            return _bf16_to_f32(half) if layout.kind == "bf16" else _f16_to_f32(half)
        # The lane is shifted to the top, then sign-extended down by an arithmetic shift.
        up = arith.SubIOp(_int(element, width - layout.bits), arith.MulIOp(lane, _int(element, layout.bits)).result).result
        value = arith.SIToFPOp(f32, arith.ShRSIOp(arith.ShLIOp(stored, up).result, _int(element, width - layout.bits)).result).result
        if not layout.quant.group:
            return value
        assert self.scales is not None  # int4 storage carries its group scales
        group = arith.DivUIOp(column(), index_constant(layout.quant.group)).result
        return arith.MulFOp(value, tensor.ExtractOp(self.scales, [row(), group]).result).result


def _int(element: ir.Type, value: int) -> ir.Value:
    return arith.ConstantOp(element, ir.IntegerAttr.get(element, value)).result


def _bf16_to_f32(bits: ir.Value) -> ir.Value:
    """bfloat16 bits (the low 16 of an i32) as float32: they are its high half."""
    return arith.BitcastOp(ir.F32Type.get(), arith.ShLIOp(bits, _int(bits.type, 16)).result).result


def _f16_to_f32(bits: ir.Value) -> ir.Value:
    """float16 bits (the low 16 of an i32) as float32, exactly, in integer operations (and one exact
    multiply for subnormals, which become normal float32 numbers)."""
    i32 = bits.type
    f32 = ir.F32Type.get()
    sign = arith.ShLIOp(arith.AndIOp(bits, _int(i32, 0x8000)).result, _int(i32, 16)).result
    exponent = arith.AndIOp(arith.ShRUIOp(bits, _int(i32, 10)).result, _int(i32, 0x1F)).result
    mantissa = arith.AndIOp(bits, _int(i32, 0x3FF)).result
    fraction = arith.ShLIOp(mantissa, _int(i32, 13)).result
    # Rebias the exponent from 15 to 127; infinities and NaNs keep the top exponent.
    normal = arith.OrIOp(arith.ShLIOp(arith.AddIOp(exponent, _int(i32, 127 - 15)).result, _int(i32, 23)).result, fraction).result
    special = arith.OrIOp(_int(i32, 0x7F800000), fraction).result
    tiny = arith.MulFOp(arith.SIToFPOp(f32, mantissa).result, arith.ConstantOp(f32, 2.0**-24).result).result
    is_top = arith.CmpIOp(arith.CmpIPredicate.eq, exponent, _int(i32, 0x1F)).result
    is_tiny = arith.CmpIOp(arith.CmpIPredicate.eq, exponent, _int(i32, 0)).result
    finite = arith.SelectOp(is_top, special, normal).result
    magnitude = arith.SelectOp(is_tiny, arith.BitcastOp(i32, tiny).result, finite).result
    return arith.BitcastOp(f32, arith.OrIOp(magnitude, sign).result).result
