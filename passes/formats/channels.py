"""``channels``: whole output rows and input columns removed; the kept sub-matrix stored dense.

Home of the ``channels`` pattern (pruned neurons, filters or input channels). The
storage is the kept sub-matrix with where its rows and columns sit in the weight.
``compact-structured`` usually removes
the structure physically (the rows become ``0..R-1`` of a smaller layer); what is
left lowers as a gather of the kept input columns, a dense matmul and a scatter of
the kept rows into the full output, on every target.

The storage is ``values [R, C]`` (the kept sub-matrix), ``row_slots [out]`` (for every
output row its row in ``values``, or -1 where the row was removed: what the scatter
reads) and ``cols [C]`` (the kept input columns: what the gather reads; for a conv filter,
``params["channel_group"] = KH*KW`` keeps whole input channels, which a channel gather
reads, and the kept filters run as a dense convolution scattered into the full output). Quantized
(``params["quant"]``), ``values`` holds the kept sub-matrix as dense quantized storage
does (:mod:`sparsile.passes.formats.dense`: ``[R, kp]`` integers) and ``scales`` follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import CHANNELS, Pattern, PatternKind
from ...mlir import arith, ir, linalg, tensor
from ..conv_lowering import conv_epilogue, dense_conv, gather_channels, geometry_of, scatter_channels
from ..epilogue_ir import epilogue
from ..ir_build import elementwise, matmul, scalar, transpose
from ..kernel_values import Quantization, as_float32
from ..quantization import scheme, scheme_name
from ..quantized_products import padded_to_tiles
from .base import GPU_FAMILIES, TARGET_FAMILIES, Plan, StorageFormat
from .dense import FLOAT_TYPES, quantized_values_product
from .dense import FORMAT as DENSE_FORMAT

if TYPE_CHECKING:
    from ..conv_geometry import ConvGeometry
    from ..kernel_ops import Kernel
    from ..weight_stats import SparsityStats

#: Kept rows/columns must be at least this full for "channels".
CHANNEL_FILL = 0.9


class ChannelsFormat(StorageFormat):
    """The kept rows x kept columns of the weight."""

    name = "channels"
    kind = PatternKind.CHANNELS
    detect_priority = 10
    targets = frozenset(TARGET_FAMILIES)
    kernels = ("matmul", "gpu_matmul", "conv")

    def detect(self, mask: np.ndarray, stats: SparsityStats) -> Pattern | None:
        if (stats.zero_rows or stats.zero_cols) and stats.kept_fill >= CHANNEL_FILL:
            return CHANNELS
        return None

    def violation(self, mask: np.ndarray, pattern: Pattern, channel_group: int) -> str | None:
        rows, cols = mask.shape
        empty_rows = not mask.any(axis=1).all()
        empty_channels = not mask.reshape(rows, cols // channel_group, channel_group).any(axis=(0, 2)).all()
        return None if empty_rows or empty_channels else "it has no all-zero output rows or input channels"

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind is PatternKind.CHANNELS

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        return Plan(kernel="gpu_matmul" if target in GPU_FAMILIES else "")

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        if target == "native":
            return None
        # kp is fixed at packing, when the kept columns are known.
        return Plan({"quant": scheme_name(quant)}, {"rows": 64} if target == "cpu" else {}, kernel=plan.kernel)

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "row_slots", "cols", "scales") if params.get("quant") else ("values", "row_slots", "cols")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        mask = weight != 0
        rows = np.nonzero(mask.any(axis=1))[0]
        group = int(params.get("channel_group", 1))  # a conv filter keeps whole input channels (KH*KW columns)
        kept_groups = mask.reshape(mask.shape[0], -1, group).any(axis=(0, 2))
        cols = np.nonzero(np.repeat(kept_groups, group))[0].astype(np.int32)
        slots = np.full(weight.shape[0], -1, np.int32)
        slots[rows] = np.arange(len(rows), dtype=np.int32)
        kept = np.ascontiguousarray(weight[np.ix_(rows, cols)])
        if not params.get("quant"):
            return {"values": kept, "row_slots": slots, "cols": cols}
        dense_params = {"quant": params["quant"], "kp": padded_to_tiles(len(cols))}
        quantized = DENSE_FORMAT.pack(kept, dense_params)
        return {"values": quantized["values"], "row_slots": slots, "cols": cols, "scales": quantized["scales"]}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        cols = storage["cols"]
        values = storage["values"]
        if params.get("quant"):
            dense_params = {"quant": params["quant"], "kp": padded_to_tiles(len(cols))}
            values = DENSE_FORMAT.unpack(storage, dense_params, (len(storage["scales"]), len(cols)))
        dense = np.zeros(shape, dtype=values.dtype)
        dense[np.ix_(kept_rows(storage["row_slots"]), cols)] = values
        return dense

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        values = list(ir.RankedTensorType(kernel.view.values.type).shape)
        if len(values) != 2:
            values = [-1, -1]
        quant = kernel.params.get("quant")
        if not quant:
            return [("values", values, FLOAT_TYPES), ("row_slots", [kernel.out_features], ("i32",)), ("cols", [values[1]], ("i32",))]
        q = scheme(str(quant))
        cols = list(ir.RankedTensorType(kernel.storage_operands[2].type).shape) if len(kernel.storage_operands) > 2 else [-1]
        kp = padded_to_tiles(cols[0])
        scales = [values[0], -(-kp // q.group)] if q.group else [values[0]]
        return [("values", [values[0], kp // 2 if q.bits == 4 else kp], ("i8",)), ("row_slots", [kernel.out_features], ("i32",)),
                ("cols", cols, ("i32",)), ("scales", scales, ("f32",))]

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        kept = storage["row_slots"][storage["row_slots"] >= 0]
        if np.any(storage["row_slots"] < -1) or not np.array_equal(kept, np.arange(len(storage["values"]))):
            return "storage 'row_slots' must number the kept rows 0, 1, ... in order and hold -1 for removed ones"
        cols = storage["cols"].astype(np.int64)
        if len(cols) == 0 or cols[0] < 0 or cols[-1] >= shape[1] or np.any(np.diff(cols) <= 0):
            return f"storage 'cols' must hold increasing indices below {shape[1]}"
        return None

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        storage = kernel.storage_arrays()
        if storage is None:
            raise ValueError("channels storage must be constant to be lowered")
        out_features, in_features = kernel.shape
        x = kernel.input
        if not _is_identity(storage["cols"], in_features):
            x = _gather_columns(x, kernel.storage_values["cols"], len(storage["cols"]))
        if kernel.params.get("quant"):
            acc = quantized_values_product(kernel, as_float32(x), target, with_row_scales=True)
        else:
            acc = matmul(x, transpose(kernel.storage_values["values"], [1, 0]))
        if not _is_identity(storage["row_slots"], out_features):
            acc = _scatter_columns(acc, kernel.storage_values["row_slots"], out_features)
        return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)

    def plan_conv(self, pattern: Pattern, weight: np.ndarray, conv: ConvGeometry, input_shape: tuple[int, ...], target: str) -> Plan | None:
        """Kept filters over kept input channels, computed as a dense convolution on every target
        (not for grouped convolutions: each group may keep a different number of filters)."""
        return Plan({"channel_group": conv.taps}, kernel="conv") if conv.groups == 1 else None

    def lower_conv(self, kernel: Kernel, target: str) -> ir.Value:
        storage = kernel.storage_arrays()
        if storage is None:
            raise ValueError("channels storage must be constant to be lowered")
        geometry = geometry_of(kernel)
        taps = geometry.taps
        cols = storage["cols"]
        if len(cols) % taps or not np.array_equal(cols.reshape(-1, taps) % taps, np.tile(np.arange(taps), (len(cols) // taps, 1))):
            raise ValueError(f"a convolution's kept columns must be whole input channels of {taps} columns")
        x = kernel.input
        if not _is_identity(cols, kernel.in_features):
            x = gather_channels(x, kernel.storage_values["cols"], len(cols) // taps, taps)
        acc = dense_conv(x, kernel.storage_values["values"], geometry)
        if not _is_identity(storage["row_slots"], kernel.out_features):
            acc = scatter_channels(acc, kernel.storage_values["row_slots"], kernel.out_features)
        return conv_epilogue(kernel, acc)

    def describe(self, params: dict[str, Any]) -> str:
        if params.get("channel_group"):
            return "kept filters x input channels, dense convolution"
        return f"kept rows x columns, dense{' ' + params['quant'] if params.get('quant') else ''}"


def kept_rows(row_slots: np.ndarray) -> np.ndarray:
    """The indices of the kept output rows."""
    return np.nonzero(row_slots >= 0)[0]


def _is_identity(indices: np.ndarray, size: int) -> bool:
    return len(indices) == size and bool(np.all(indices == np.arange(size)))


def _gather_columns(x: ir.Value, cols: ir.Value, count: int) -> ir.Value:
    """``x[:, cols]`` (``[M, K] -> [M, count]``)."""
    x_type = ir.RankedTensorType(x.type)
    m = x_type.shape[0]
    d1 = ir.AffineExpr.get_dim(1)
    result_type = ir.RankedTensorType.get([m, count], x_type.element_type)

    def body(args: list[ir.Value]) -> ir.Value:
        column = arith.IndexCastOp(ir.IndexType.get(), args[0]).result
        return tensor.ExtractOp(x, [linalg.IndexOp(0).result, column]).result

    return elementwise([cols], [ir.AffineMap.get(2, 0, [d1])], result_type, body)


def _scatter_columns(z: ir.Value, row_slots: ir.Value, width: int) -> ir.Value:
    """``y [M, width]`` with ``y[:, n] = z[:, row_slots[n]]``, zero where ``row_slots[n]`` is -1."""
    z_type = ir.RankedTensorType(z.type)
    element = z_type.element_type
    d1 = ir.AffineExpr.get_dim(1)
    result_type = ir.RankedTensorType.get([z_type.shape[0], width], element)
    i32 = ir.IntegerType.get_signless(32)

    def body(args: list[ir.Value]) -> ir.Value:
        kept = arith.CmpIOp(arith.CmpIPredicate.sge, args[0], arith.ConstantOp(i32, 0).result).result
        position = arith.IndexCastOp(ir.IndexType.get(), arith.MaxSIOp(args[0], arith.ConstantOp(i32, 0).result).result).result
        value = tensor.ExtractOp(z, [linalg.IndexOp(0).result, position]).result
        return arith.SelectOp(kept, value, scalar(0.0, element)).result

    return elementwise([row_slots], [ir.AffineMap.get(2, 0, [d1])], result_type, body)


FORMAT = ChannelsFormat()
