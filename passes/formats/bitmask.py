"""``bitmask``: any pattern as 1 bit per weight plus the nonzeros packed, expanded into dense tiles.

The storage of "load sparse, compute dense" for a few activation rows: at batch 1 a layer
is bound by the bytes its weight moves, and a bitmask moves ``1/32`` of a float32 weight
per element plus the nonzeros, where CSR pays a 16-bit column per nonzero (at 50% zeros:
0.53 of the dense bytes against CSR's 0.75; DESIGN.md section 9). Any mask works; no
pattern is needed.

The reduction dimension is padded to ``kp`` (a multiple of 64 columns); every row is
``kp / 16`` tiles of 16 weights, four tiles to a 64-bit word of ``masks [N, kp/64]``
(tile ``u`` of a word in bits ``16u .. 16u+15``, lane ``j`` in bit ``16u + j``);
``values`` holds the nonzeros row after row in column order and ``offsets [N + 1]``
where each row's start. The kernel (:mod:`sparsile.passes.row_kernels`) expands each
tile into a vector and multiplies it densely: with ``vector.expandload`` where the
target has AVX-512 VBMI2 (``vector-expand``), else with AVX2 permutes (``vector-permute``;
``params["expand"] = "permute"``), which load eight values at each half tile's start
and so need :data:`SPARE_VALUES` values after the last nonzero.

Quantized (``params["quant"]``), the mask is that of the integers (a weight that rounds
to zero is not stored) and ``values`` holds them: int8 one per byte; int4 two per byte,
each tile's nibbles padded to a whole byte (so ``offsets`` count bytes, and the values
end with 8 spare bytes for the kernel's tile loads); the ``scales`` follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir, tensor
from ..dispatch_markers import dispatch, module_of, unique_symbol
from ..epilogue_ir import kernel_epilogue
from ..ir_build import constant, zeros
from ..kernel_values import FLOAT, FLOAT_STORAGE, LANES, PERMUTE_LANES, Quantization, as_float32, is_float_storage, permute_lanes_table
from ..quantization import dequantize, pack_nibbles, quantize, scheme, scheme_name, unpack_nibbles
from ..row_kernels import MAX_ROWS, WORD_COLUMNS, RowKernel, row_kernel, workgroup_rows
from .base import Plan, StorageFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel

#: Values stored after the last nonzero for the permute expand's eight-value loads (int4
#: storage always ends with spare bytes: its tiles are read eight bytes at a time).
SPARE_VALUES = PERMUTE_LANES
#: The ways a tile is expanded (``params["expand"]``; absent: ``expandload``), and the kernel
#: the cost model times each as (they cost differently).
KERNEL_OF_EXPAND = {"expandload": "rows", "permute": "permute"}
EXPANDS = tuple(KERNEL_OF_EXPAND)


def _kernel_of(params: dict[str, Any]) -> str:
    """The kernel of storage packed with ``params`` (an unknown expand is the verifier's to report)."""
    return KERNEL_OF_EXPAND.get(params.get("expand", "expandload"), "rows")


def padded_columns(k: int) -> int:
    """``k`` rounded up to whole 64-bit mask words."""
    return -(-k // WORD_COLUMNS) * WORD_COLUMNS


def pack_masks(mask: np.ndarray, kp: int) -> np.ndarray:
    """``[N, kp/64]`` int64 words of a boolean ``[N, K]`` mask, column ``c`` in bit ``c % 64`` of word ``c // 64``."""
    rows, cols = mask.shape
    padded = np.zeros((rows, kp), bool)
    padded[:, :cols] = mask
    return np.packbits(padded, axis=1, bitorder="little").view("<i8").astype(np.int64)


def unpack_masks(masks: np.ndarray, cols: int) -> np.ndarray:
    """The boolean ``[N, cols]`` mask of :func:`pack_masks` words."""
    bits = np.unpackbits(np.ascontiguousarray(masks).astype("<i8").view(np.uint8), axis=1, bitorder="little")
    return bits[:, :cols].astype(bool)


class BitmaskFormat(StorageFormat):
    """A bit per weight and the nonzeros packed row after row."""

    name = "bitmask"
    targets = frozenset({"cpu"})
    #: ``rows``: tiles expanded by ``vector.expandload``; ``permute``: by AVX2 permutes (timed apart: they cost differently).
    kernels = ("rows", "permute")
    requires_one_of = frozenset({"vector-expand", "vector-permute"})
    kernel_requires = {"rows": frozenset({"vector-expand"}), "permute": frozenset({"vector-permute"})}

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind in (PatternKind.CSR, PatternKind.NM, PatternKind.BSR)

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target not in self.targets or rows > MAX_ROWS or not is_float_storage(weight):
            return None
        n, k = weight.shape
        return Plan({"kp": padded_columns(k)}, {"rows": workgroup_rows(n)})

    def for_features(self, plan: Plan, features: Iterable[str]) -> Plan:
        """The permute expand where the target has AVX2 but not AVX-512 VBMI2."""
        if "vector-expand" in features or "vector-permute" not in features:
            return plan
        params = {**plan.params, "expand": "permute"}
        return Plan(params, plan.tiles, plan.rows, _kernel_of(params))

    def kernel(self, plan: Plan) -> str:
        return _kernel_of(plan.params)

    def replan(self, plan: Plan, params: dict[str, Any], weight_shape: tuple[int, int]) -> Plan | None:
        """``plan`` over storage packed with ``params``: the storage says how its tiles are expanded."""
        if {k: v for k, v in params.items() if k != "expand"} != {k: v for k, v in plan.params.items() if k != "expand"}:
            return None
        return Plan(dict(params), plan.tiles, plan.rows, _kernel_of(params))

    def tile_variants(self, plan: Plan, weight: np.ndarray, rows: int) -> list[Plan]:
        return [Plan(plan.params, {"rows": r}, plan.rows, plan.kernel) for r in (16, 32, 64, 128) if r != plan.tiles.get("rows")]

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        return Plan({**plan.params, "quant": scheme_name(quant)}, plan.tiles, plan.rows, plan.kernel)

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("masks", "values", "offsets", "scales") if params.get("quant") else ("masks", "values", "offsets")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        kp = int(params["kp"])
        spare = SPARE_VALUES if params.get("expand") == "permute" else 0
        if params.get("quant"):
            quantized = quantize(weight, scheme(params["quant"]))
            mask = quantized.q != 0
            storage = _pack_nibble_tiles(quantized.q, mask, kp) if quantized.quant.bits == 4 else _pack_values(quantized.q, mask, spare)
            return {"masks": pack_masks(mask, kp), **storage, "scales": quantized.scales}
        mask = weight != 0
        return {"masks": pack_masks(mask, kp), **_pack_values(weight, mask, spare)}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        mask = unpack_masks(storage["masks"], shape[1])
        if params.get("quant") and scheme(params["quant"]).bits == 4:
            q = _unpack_nibble_tiles(storage["values"], storage["masks"], shape)
        else:
            q = np.zeros(shape, dtype=storage["values"].dtype)
            q[mask] = storage["values"][: int(mask.sum())]
        return dequantize(q, storage["scales"], scheme(params["quant"])) if params.get("quant") else q

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        n = kernel.out_features
        kp = int(kernel.params["kp"])
        expected: list[tuple[str, list[int] | None, tuple[str, ...]]] = [("masks", [n, kp // WORD_COLUMNS], ("i64",))]
        quant = kernel.params.get("quant")
        expected += [("values", None, ("i8",) if quant else FLOAT_STORAGE), ("offsets", [n + 1], ("i32",))]
        if quant:
            group = scheme(str(quant)).group
            expected.append(("scales", [n, -(-kp // group)] if group else [n], ("f32",)))
        return expected

    def storage_problem(self, kernel: Kernel) -> str | None:
        kp, quant = kernel.params.get("kp"), kernel.params.get("quant")
        if not isinstance(kp, int) or kp % WORD_COLUMNS or kp < kernel.in_features:
            return f"with format 'bitmask' needs params kp, a multiple of {WORD_COLUMNS} columns >= in_features = {kernel.in_features}, got {kernel.params}"
        if kernel.params.get("expand", "expandload") not in EXPANDS:
            return f"with format 'bitmask': params expand must be one of {', '.join(EXPANDS)}, got {kernel.params['expand']!r}"
        if quant is not None:
            try:
                scheme(str(quant))
            except ValueError as err:
                return f"with format 'bitmask': {err}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        masks = np.ascontiguousarray(storage["masks"]).view(np.uint64)
        nibbles = bool(params.get("quant")) and scheme(params["quant"]).bits == 4
        if nibbles:  # bytes per tile: its nonzeros, two to a byte
            tiles = np.bitwise_count(masks[:, :, None] >> np.arange(0, 64, 16, dtype=np.uint64) & np.uint64(0xFFFF))
            per_row = ((tiles + 1) // 2).sum(axis=(1, 2))
        else:
            per_row = np.bitwise_count(masks).sum(axis=1)
        offsets = storage["offsets"].astype(np.int64)
        if offsets[0] != 0 or not np.array_equal(np.diff(offsets), per_row) or offsets[-1] > len(storage["values"]):
            what = "bytes of its tiles' nonzeros" if nibbles else "mask popcount"
            return f"storage 'offsets' must start at 0 and step by each row's {what}, within the values"
        if params.get("expand") == "permute" and not nibbles and offsets[-1] + SPARE_VALUES > len(storage["values"]):
            return (f"storage 'values' must hold {SPARE_VALUES} spare values after the last nonzero for the permute expand "
                    f"(it holds {len(storage['values'])}, the masks mark {offsets[-1]})")
        if np.any(unpack_masks(storage["masks"], int(params["kp"]))[:, shape[1]:]):
            return f"storage 'masks' marks a column beyond in_features = {shape[1]}"
        return None

    def scanned_positions(self, shape: tuple[int, int]) -> int:
        """Every tile is expanded, zeros or not: ``N * kp`` positions."""
        return shape[0] * padded_columns(shape[1])

    def stored_values(self, storage: dict[str, np.ndarray], params: dict[str, Any]) -> int:
        return int(np.bitwise_count(np.ascontiguousarray(storage["masks"]).view(np.uint64)).sum())

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        x = as_float32(kernel.input)
        m, k = ir.RankedTensorType(x.type).shape
        n = kernel.out_features
        kp = int(kernel.params["kp"])
        f32 = ir.F32Type.get()
        storage = kernel.storage_values
        if kp != k:  # whole mask words: the padding columns are zeros and have no nonzeros
            x = tensor.InsertSliceOp(x, zeros([m, kp], f32), [], [], [], [0, 0], [m, k], [1, 1]).result
        quant = scheme(kernel.params["quant"]) if kernel.params.get("quant") else FLOAT
        spec = RowKernel(
            m=m, n=n, kp=kp, tiles="bitmask",
            value_type=ir.RankedTensorType(storage["values"].type).element_type,
            quant=quant, rows=int(kernel.tiles.get("rows", workgroup_rows(n))),
            nnz=ir.RankedTensorType(storage["values"].type).shape[0],
            expand=str(kernel.params.get("expand", "expandload")),
        )
        module = module_of(kernel.op)
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = row_kernel(unique_symbol(module, "sparsile_kernel_"), spec)
        operands = [x, storage["masks"], storage["values"], storage["offsets"]]
        if spec.expand == "permute":
            operands.append(constant(permute_lanes_table()))
        operands += [storage["scales"]] if quant.group else []
        return kernel_epilogue(kernel, dispatch(module, body, operands, ir.RankedTensorType.get([m, n], f32)))

    def describe(self, params: dict[str, Any]) -> str:
        quant = f" ({params['quant']})" if params.get("quant") else ""
        expand = ", expanded by AVX2 permutes" if params.get("expand") == "permute" else ""
        return f"bitmask tiles of 16 + packed nonzeros{quant}, {params.get('kp')} padded columns{expand}"


def _pack_values(weight: np.ndarray, mask: np.ndarray, spare: int) -> dict[str, np.ndarray]:
    """The nonzeros row after row then ``spare`` zeros, and where each row's start (one element per value)."""
    offsets = np.zeros(weight.shape[0] + 1, np.int32)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    kept = weight[mask]
    # Zero-size memrefs are not bindable: at least one value, never read.
    values = np.zeros(max(len(kept) + spare, 1), weight.dtype)
    values[: len(kept)] = kept
    return {"values": values, "offsets": offsets}


def _tile_layout(mask: np.ndarray, kp: int) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, tile) of a padded mask: its nonzeros and the byte where its nibbles start."""
    rows, cols = mask.shape
    padded = np.zeros((rows, kp), bool)
    padded[:, :cols] = mask
    counts = padded.reshape(rows, kp // LANES, LANES).sum(axis=2)
    nbytes = ((counts + 1) // 2).ravel()
    starts = np.zeros(nbytes.size + 1, np.int64)
    np.cumsum(nbytes, out=starts[1:])
    return counts, starts


def _pack_nibble_tiles(q: np.ndarray, mask: np.ndarray, kp: int) -> dict[str, np.ndarray]:
    """int4 nonzeros two per byte, each tile's padded to a whole byte; byte offsets per row; 8 spare bytes."""
    counts, starts = _tile_layout(mask, kp)
    tiles = counts.size
    kept = q[mask].astype(np.int8)
    first_of_tile = np.repeat(np.cumsum(counts.ravel()) - counts.ravel(), counts.ravel())
    tile_of_value = np.repeat(np.arange(tiles), counts.ravel())
    nibble = 2 * starts[tile_of_value] + (np.arange(len(kept)) - first_of_tile)
    nibbles = np.zeros(2 * int(starts[-1]) + 16, np.int8)  # the kernel reads 8 bytes at every tile's start
    nibbles[nibble] = kept
    per_tile = counts.shape[1]
    offsets = starts[::per_tile].astype(np.int32)
    return {"values": pack_nibbles(nibbles), "offsets": offsets}


def _unpack_nibble_tiles(values: np.ndarray, masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The int8 ``[N, K]`` matrix of :func:`_pack_nibble_tiles` storage."""
    kp = masks.shape[1] * WORD_COLUMNS
    full = unpack_masks(masks, kp)
    counts, starts = _tile_layout(full, kp)
    nibbles = unpack_nibbles(values)
    first_of_tile = np.repeat(np.cumsum(counts.ravel()) - counts.ravel(), counts.ravel())
    tile_of_value = np.repeat(np.arange(counts.size), counts.ravel())
    kept = nibbles[2 * starts[tile_of_value] + (np.arange(int(counts.sum())) - first_of_tile)]
    q = np.zeros((shape[0], kp), np.int8)
    q[full] = kept
    return q[:, : shape[1]]


FORMAT = BitmaskFormat()
