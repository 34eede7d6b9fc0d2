"""``bsr``: square blocks, stored as block-sparse rows.

Home of the ``bsr<B>`` patterns: a weight whose nonzeros sit in BxB tiles that are
at least 90% full, for B in 4, 8, 16, 32 (the largest that fits wins). The storage
is ``values [nb, B, B]`` (the nonzero blocks), ``block_cols [nb]`` and
``block_row_offsets [out/B + 1]``. On ``native-cpu`` it is a BSR sparse tensor for
MLIR's sparsifier (blocks row by row); on ``cpu`` the blocks are stored column by column
(``params["layout"] = "columns"``) for the hand-written block kernels of
:mod:`sparsile.passes.bsr_kernels` (one index per block, register tiles of the block's
rows). The GPU families store blocks as ``bell``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import BLOCK_SIZES, Pattern, PatternKind
from ...mlir import ir, tensor
from ..bsr_kernels import ACTIVATION_BLOCK, bsr_blocked_kernel, bsr_gemv_kernel
from ..dispatch_markers import dispatch, module_of, unique_symbol
from ..epilogue_ir import epilogue
from ..feature_major import feature_major_product, padded_rows
from ..kernel_values import FLOAT_STORAGE, as_float32, is_float_storage
from ..native_sparse import assemble, matmul_transposed
from .base import Plan, StorageFormat

if TYPE_CHECKING:
    from ..kernel_ops import Kernel
    from ..weight_stats import SparsityStats

#: Nonzero blocks must be at least this full for "bsr<B>".
BLOCK_FILL = 0.9


def block_density(mask: np.ndarray, block: int) -> float:
    """The fraction of ``block``x``block`` blocks holding at least one nonzero."""
    rows, cols = mask.shape
    blocks = mask.reshape(rows // block, block, cols // block, block).any(axis=(1, 3))
    return float(blocks.mean())


class BsrFormat(StorageFormat):
    """Nonzero BxB blocks with their block columns and block-row offsets."""

    name = "bsr"
    kind = PatternKind.BSR
    detect_priority = 20
    targets = frozenset({"native", "cpu"})
    kernels = ("native", "batch1", "blocked")

    def detect(self, mask: np.ndarray, stats: SparsityStats) -> Pattern | None:
        rows, cols = mask.shape
        for block in sorted(BLOCK_SIZES, reverse=True):
            if rows % block or cols % block:
                continue
            occupied = block_density(mask, block)
            if occupied and stats.density / occupied >= BLOCK_FILL:
                return Pattern(PatternKind.BSR, block=block)
        return None

    def violation(self, mask: np.ndarray, pattern: Pattern, channel_group: int) -> str | None:
        rows, cols = mask.shape
        if rows % pattern.block or cols % pattern.block:
            return f"its shape {rows}x{cols} is not a multiple of {pattern.block}x{pattern.block} blocks"
        return None

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind is PatternKind.BSR

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        if target == "native" and weight.dtype == np.float32:
            return Plan({"block": pattern.block}, kernel="native")
        if target != "cpu" or not is_float_storage(weight):
            return None
        params = {"block": pattern.block, "layout": "columns"}
        block_rows = max(1, 64 // pattern.block)  # about 64 output rows per workgroup
        if rows == 1:
            return Plan(params, {"block_rows": block_rows}, kernel="batch1")
        return Plan(params, {"block_rows": block_rows, "mb": ACTIVATION_BLOCK}, rows=padded_rows(rows, ACTIVATION_BLOCK), kernel="blocked")

    def replan(self, plan: Plan, params: dict[str, Any], weight_shape: tuple[int, int]) -> Plan | None:
        return plan if plan.params == params else None

    def kernel(self, plan: Plan) -> str:
        return plan.kernel or "native"

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "block_cols", "block_row_offsets")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        b = int(params["block"])
        rows, cols = weight.shape
        blocks = weight.reshape(rows // b, b, cols // b, b).transpose(0, 2, 1, 3)
        occupied = (blocks != 0).any(axis=(2, 3))
        block_rows, block_cols = np.nonzero(occupied)
        offsets = np.zeros(rows // b + 1, dtype=np.int32)
        np.cumsum(occupied.sum(axis=1), out=offsets[1:])
        values = np.ascontiguousarray(blocks[block_rows, block_cols])
        if params.get("layout") == "columns":
            values = np.ascontiguousarray(values.transpose(0, 2, 1))
        if not len(values):  # zero-size memrefs are not bindable: one block that is never read
            values, block_cols = np.zeros((1, b, b), weight.dtype), np.zeros(1, np.int64)
        return {"values": values, "block_cols": block_cols.astype(np.int32), "block_row_offsets": offsets}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        b = int(params["block"])
        offsets = storage["block_row_offsets"]
        count = int(offsets[-1])
        block_row = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        dense = np.zeros(shape, dtype=storage["values"].dtype)
        values = storage["values"].transpose(0, 2, 1) if params.get("layout") == "columns" else storage["values"]
        for value, r, c in zip(values[:count], block_row, storage["block_cols"][:count]):
            dense[r * b : (r + 1) * b, c * b : (c + 1) * b] = value
        return dense

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        b = int(kernel.params["block"])  # checked by storage_problem
        values = list(ir.RankedTensorType(kernel.view.values.type).shape)
        nb = values[0] if values else -1
        return [("values", [nb, b, b], FLOAT_STORAGE), ("block_cols", [nb], ("i32",)), ("block_row_offsets", [kernel.out_features // b + 1], ("i32",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        b = kernel.params.get("block")
        rows, cols = kernel.shape
        if not isinstance(b, int) or b <= 0 or rows % b or cols % b:
            return f"with format 'bsr' needs params block dividing the weight shape [{rows}, {cols}], got {kernel.params}"
        if kernel.params.get("layout", "rows") not in ("rows", "columns"):
            return f"with format 'bsr' stores blocks by rows or columns (params layout), got {kernel.params}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        b = int(params["block"])
        offsets = storage["block_row_offsets"].astype(np.int64)
        if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] > len(storage["values"]):
            return "storage 'block_row_offsets' must rise from 0 to at most the number of blocks"
        cols = storage["block_cols"][: int(offsets[-1])]
        if np.any(cols < 0) or np.any(cols >= shape[1] // b):
            return f"storage 'block_cols' holds a block column beyond in_features / {b} = {shape[1] // b}"
        return None

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        if target == "cpu":
            return _lower_cpu(kernel)
        storage = kernel.storage_values
        pattern = Pattern(PatternKind.BSR, block=int(kernel.params["block"]))
        levels = [storage["block_row_offsets"], storage["block_cols"]]
        weight = assemble(pattern, kernel.shape, ir.F32Type.get(), levels, storage["values"], 32)
        acc = matmul_transposed(as_float32(kernel.input), weight)
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def describe(self, params: dict[str, Any]) -> str:
        layout = ", stored by columns" if params.get("layout") == "columns" else ""
        return f"BSR, {params.get('block')}x{params.get('block')} blocks{layout}"


def _lower_cpu(kernel: Kernel) -> ir.Value:
    """The block kernels: the one-row GEMV, or the register-tiled kernel on feature-major activations."""
    if kernel.params.get("layout") != "columns":
        raise ValueError("the cpu block kernels read blocks stored by columns (params layout = columns)")
    x = as_float32(kernel.input)
    m, k = ir.RankedTensorType(x.type).shape
    n = kernel.out_features
    f32 = ir.F32Type.get()
    b = int(kernel.params["block"])
    storage = kernel.storage_values
    operands = [storage["values"], storage["block_cols"], storage["block_row_offsets"]]
    nb = ir.RankedTensorType(storage["values"].type).shape[0]
    value_type = ir.RankedTensorType(storage["values"].type).element_type
    block_rows = int(kernel.tiles.get("block_rows", max(1, 64 // b)))
    module = module_of(kernel.op)
    if m == 1 and "mb" not in kernel.tiles:
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = bsr_gemv_kernel(unique_symbol(module, "sparsile_kernel_"), n=n, k=k, nb=nb, block=b, value_type=value_type, block_rows=block_rows)
        x1 = tensor.CollapseShapeOp(ir.RankedTensorType.get([k], f32), x, [[0, 1]]).result
        y1 = dispatch(module, body, [x1, *operands], ir.RankedTensorType.get([n], f32))
        acc = tensor.ExpandShapeOp(ir.RankedTensorType.get([1, n], f32), y1, [[0, 1]], [], [1, n]).result
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def call(xt: ir.Value, blocks: int) -> ir.Value:
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = bsr_blocked_kernel(unique_symbol(module, "sparsile_kernel_"), n=n, k=k, nb=nb, block=b, value_type=value_type,
                                      activation_blocks=blocks, block_rows=block_rows)
        return dispatch(module, body, [xt, *operands], ir.RankedTensorType.get([blocks, n, ACTIVATION_BLOCK], f32))

    acc = feature_major_product(x, n, ACTIVATION_BLOCK, call)
    return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)


FORMAT = BsrFormat()
