"""``nm``: N:M weights (at most N nonzeros in every M along the reduction dimension).

Home of the N:M patterns (1:4, 2:8, 2:4, 4:8; the tightest that holds, if the
weight is about as dense as N/M). The storage is the 2:4 layout of the batch-1
select kernel (:mod:`sparsile.passes.nm_kernels`): row-block-major planes
``values [N/16, K/4, 2, 16]`` (in the weight's float type) and ``positions`` (i8, the slot of each kept value
inside its group of four), so every stream is sequential. Other N:M patterns and
other batch sizes are stored as CSR by ``schedule``. Quantized (``params["quant"]``), the
value planes hold int8 (int4: two lanes per byte, ``[N/16, K/4, 2, 8]``) and ``scales``
follow: one per row for int8, ``[ceil(K/128), N]`` for int4 (a block of rows' scales
contiguous, as the kernel loads them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import NM_PATTERNS, Pattern, PatternKind
from ...mlir import ir, tensor
from ..dispatch_markers import dispatch, module_of, unique_symbol
from ..epilogue_ir import kernel_epilogue
from ..kernel_values import FLOAT, FLOAT_STORAGE, Quantization, as_float32, is_float_storage
from ..nm_kernels import LANES, two_four_gemv_kernel
from ..quantization import dequantize, pack_nibbles, quantize, scheme, scheme_name, unpack_nibbles
from .base import Plan, StorageFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel
    from ..weight_stats import SparsityStats

#: An N:M pattern counts only if the weight is about as dense as N/M (not far sparser).
NM_TIGHTNESS = 0.75
#: Output rows per workgroup of the select kernel.
GEMV_ROWS = 128


def nm_violation(mask: np.ndarray, n: int, m: int) -> tuple[int, int, int] | None:
    """The first group breaking N:M as (row, first column, nonzeros), or None when N:M holds."""
    rows, cols = mask.shape
    if cols % m:
        return (0, cols - cols % m, -1)
    counts = mask.reshape(rows, cols // m, m).sum(axis=2)
    bad = np.argwhere(counts > n)
    if len(bad) == 0:
        return None
    r, g = bad[0]
    return int(r), int(g) * m, int(counts[r, g])


def tightest_nm(mask: np.ndarray) -> tuple[int, int] | None:
    """The N:M pattern with the smallest N/M (then smallest M) that the mask satisfies."""
    holding = [(n, m) for n, m in NM_PATTERNS if nm_violation(mask, n, m) is None]
    return min(holding, key=lambda nm: (nm[0] / nm[1], nm[1])) if holding else None


class NmFormat(StorageFormat):
    """2:4 values and positions in row-block-major planes."""

    name = "nm"
    kind = PatternKind.NM
    detect_priority = 30
    targets = frozenset({"cpu"})
    kernels = ("select",)

    def detect(self, mask: np.ndarray, stats: SparsityStats) -> Pattern | None:
        nm = tightest_nm(mask)
        if nm is not None and stats.density >= NM_TIGHTNESS * nm[0] / nm[1]:
            return Pattern(PatternKind.NM, n=nm[0], m=nm[1])
        return None

    def violation(self, mask: np.ndarray, pattern: Pattern, channel_group: int) -> str | None:
        bad = nm_violation(mask, pattern.n, pattern.m)
        if bad is None:
            return None
        row, col, count = bad
        if count < 0:
            return f"its reduction dimension ({mask.shape[1]}) is not a multiple of {pattern.m}"
        return f"row {row}, columns {col}..{col + pattern.m - 1} hold {count} nonzeros (at most {pattern.n} allowed)"

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind is PatternKind.NM and (pattern.n, pattern.m) == (2, 4)

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        n, k = weight.shape
        if target != "cpu" or rows != 1 or not self.holds(pattern) or not is_float_storage(weight):
            return None
        if n % GEMV_ROWS or k % 4:
            return None
        return Plan({"n": 2, "m": 4, "lanes": LANES}, {"rows": GEMV_ROWS})

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        return Plan({**plan.params, "quant": scheme_name(quant)}, plan.tiles, plan.rows, plan.kernel)

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "positions", "scales") if params.get("quant") else ("values", "positions")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        if not params.get("quant"):
            return _pack_planes(weight)
        quantized = quantize(weight, scheme(params["quant"]))
        storage = _pack_planes(quantized.q)
        if quantized.quant.bits == 4:
            storage["values"] = np.ascontiguousarray(pack_nibbles(storage["values"]))
            return {**storage, "scales": np.ascontiguousarray(quantized.scales.T)}
        return {**storage, "scales": quantized.scales}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        if not params.get("quant"):
            return _unpack_planes(storage["values"], storage["positions"], shape)
        quant = scheme(params["quant"])
        values = unpack_nibbles(storage["values"]) if quant.bits == 4 else storage["values"]
        scales = storage["scales"].T if quant.group else storage["scales"]
        return dequantize(_unpack_planes(values, storage["positions"], shape), scales, quant)

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        n, k = kernel.shape
        plane = [n // LANES, k // 4, 2, LANES]
        quant = kernel.params.get("quant")
        if not quant:
            return [("values", plane, FLOAT_STORAGE), ("positions", plane, ("i8",))]
        q = scheme(str(quant))
        values = [*plane[:3], LANES // 2] if q.bits == 4 else plane
        scales = [-(-k // q.group), n] if q.group else [n]
        return [("values", values, ("i8",)), ("positions", plane, ("i8",)), ("scales", scales, ("f32",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        n, k = kernel.shape
        if (kernel.params.get("n"), kernel.params.get("m")) != (2, 4) or kernel.params.get("lanes") != LANES:
            return f"with format 'nm' stores 2:4 in {LANES}-row planes (params n = 2, m = 4, lanes = {LANES}), got {kernel.params}"
        if n % LANES or k % 4:
            return f"with format 'nm' needs out_features a multiple of {LANES} and in_features of 4, got [{n}, {k}]"
        if kernel.params.get("quant") is not None:
            try:
                scheme(str(kernel.params["quant"]))
            except ValueError as err:
                return f"with format 'nm': {err}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        positions = storage["positions"]
        first, second = positions[:, :, 0, :], positions[:, :, 1, :]
        if np.any(positions < 0) or np.any(positions > 3) or np.any(first >= second):
            return "storage 'positions' must hold two increasing slots in 0..3 per group of four"
        return None

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        x = as_float32(kernel.input)
        m, k = ir.RankedTensorType(x.type).shape
        n = kernel.out_features
        rows = int(kernel.tiles.get("rows", GEMV_ROWS))
        if m != 1 or n % rows:
            raise ValueError(f"the 2:4 select kernel runs one input row and {rows}-row workgroups, got {m} rows and {n} outputs")
        f32 = ir.F32Type.get()
        module = module_of(kernel.op)
        quant = scheme(kernel.params["quant"]) if kernel.params.get("quant") else FLOAT
        storage = kernel.storage_values
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            value_type = ir.RankedTensorType(storage["values"].type).element_type
            body = two_four_gemv_kernel(unique_symbol(module, "sparsile_kernel_"), n=n, k=k, rows=rows, value_type=value_type, quant=quant)
        x1 = tensor.CollapseShapeOp(ir.RankedTensorType.get([k], f32), x, [[0, 1]]).result
        operands = [x1, storage["values"], storage["positions"]] + ([storage["scales"]] if quant.group else [])
        y1 = dispatch(module, body, operands, ir.RankedTensorType.get([n], f32))
        acc = tensor.ExpandShapeOp(ir.RankedTensorType.get([1, n], f32), y1, [[0, 1]], [], [1, n]).result
        return kernel_epilogue(kernel, acc)

    def describe(self, params: dict[str, Any]) -> str:
        quant = f" ({params['quant']})" if params.get("quant") else ""
        return f"2:4 values{quant} + i8 positions, {params.get('lanes')}-row planes"


def _pack_planes(weight: np.ndarray) -> dict[str, np.ndarray]:
    """The two kept values of every group of four and their slots, in ``[N/16, K/4, 2, 16]`` planes."""
    rows, cols = weight.shape
    groups = weight.reshape(rows, cols // 4, 4)
    order = np.sort(np.argsort(groups == 0, axis=2, kind="stable")[:, :, :2], axis=2)  # kept slots, ascending
    values = np.take_along_axis(groups, order, axis=2)  # [N, G, 2]

    def planes(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a.reshape(rows // LANES, LANES, cols // 4, 2).transpose(0, 2, 3, 1))

    return {"values": planes(values), "positions": planes(order).astype(np.int8)}


def _unpack_planes(values: np.ndarray, positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The ``[N, K]`` matrix of value and position planes."""
    rows, cols = shape
    # [N/16, G, 2, 16] -> [N, G, 2]
    kept = values.transpose(0, 3, 1, 2).reshape(rows, cols // 4, 2)
    slots = positions.transpose(0, 3, 1, 2).reshape(rows, cols // 4, 2).astype(np.int64)
    dense = np.zeros((rows, cols // 4, 4), dtype=kept.dtype)
    np.put_along_axis(dense, slots, kept, axis=2)
    return dense.reshape(rows, cols)


FORMAT = NmFormat()
