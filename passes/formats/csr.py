"""``csr``: any pattern as K-chunked CSR, multiplied by hand-written dispatches on the CPU.

Home of the unstructured pattern (the catch-all of detection), and the storage of
N:M and block weights wherever no kernel of their own applies. The storage is CSR
cut into chunks of ``kc`` columns and stored chunk-major: ``offsets[c * N + n] ..
offsets[c * N + n + 1]`` are the entries of row ``n`` in chunk ``c``, ``cols`` their
absolute column indices (16-bit where K allows, read as unsigned), ``values`` the
nonzeros. With ``kc >= K`` this is plain CSR, which batch 1 and ``native-cpu`` use.

On ``cpu`` the storage feeds :mod:`sparsile.passes.csr_kernels` as it is: the
K-blocked dispatch on feature-major activations for several rows, the scalar one
at batch 1. On ``native-cpu`` it is assembled into a CSR sparse tensor for MLIR's
sparsifier. A convolution filter on ``cpu`` is stored as plain CSR of its ``[F, C*KH*KW]``
matrix and runs through the direct sparse convolution (:mod:`sparsile.passes.conv_kernels`),
which reads each column's input offset from a table the lowering builds from the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import CSR, Pattern, PatternKind
from ...mlir import ir, tensor
from ..conv_kernels import LANES, DirectConvConfig, direct_conv_config
from ..conv_lowering import conv_epilogue, direct_sparse_conv
from ..csr_kernels import BlockedConfig, CsrValues, blocked_config, blocked_csr_kernel, scalar_csr_kernel
from ..dispatch_markers import dispatch, module_of, unique_symbol
from ..ell_storage import column_array, read_columns
from ..epilogue_ir import epilogue, kernel_epilogue
from ..feature_major import feature_major_product, padded_rows
from ..kernel_values import FLOAT, FLOAT_STORAGE, Quantization, as_float32, is_float_storage
from ..native_sparse import assemble, matmul_transposed
from ..quantization import dequantize, pack_nibbles, quantize, scheme, scheme_name, unpack_nibbles
from .base import Plan, StorageFormat

if TYPE_CHECKING:
    from ..conv_geometry import ConvGeometry
    from ..kernel_ops import Kernel
    from ..weight_stats import SparsityStats

#: The scalar batch-1 kernel's tiles: output rows per workgroup, nonzeros per step, FMA chains.
SCALAR_TILES = {"rows": 256, "unroll": 8, "chains": 4}


class CsrFormat(StorageFormat):
    """K-chunked CSR with 16- or 32-bit column indices."""

    name = "csr"
    kind = PatternKind.CSR
    detect_priority = 90
    targets = frozenset({"cpu", "native"})
    kernels = ("batch1", "blocked", "native", "conv")

    def kernel(self, plan: Plan) -> str:
        if plan.kernel:
            return plan.kernel
        if not plan.tiles:  # the sparsifier's loops (native-cpu)
            return "native"
        return "blocked" if "mb" in plan.tiles else "batch1"

    def detect(self, mask: np.ndarray, stats: SparsityStats) -> Pattern | None:
        return CSR

    def holds(self, pattern: Pattern) -> bool:
        return pattern.kind in (PatternKind.CSR, PatternKind.NM, PatternKind.BSR)

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        n, k = weight.shape
        if not is_float_storage(weight) or target not in self.targets:
            return None
        if target == "native":
            return Plan({"kc": k, "col_bits": 32})
        col_bits = 16 if k <= 65535 else 32
        if rows == 1:
            return Plan({"kc": k, "col_bits": col_bits}, dict(SCALAR_TILES))
        config = blocked_config(rows, n, float(np.count_nonzero(weight)) / weight.size)
        tiles = {"mb": config.mb, "rows": config.rows, "unroll": config.unroll, "chains": config.chains}
        return Plan({"kc": config.kc, "col_bits": col_bits}, tiles, rows=padded_rows(rows, config.mb))

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        if target == "native":
            return None
        return Plan({**plan.params, "quant": scheme_name(quant)}, plan.tiles, plan.rows, plan.kernel)

    def tile_variants(self, plan: Plan, weight: np.ndarray, rows: int) -> list[Plan]:
        if "mb" not in plan.tiles:
            return []
        # The K-chunk (L1-resident activation slice against nonzeros per chunk) and the rows per workgroup.
        variants = []
        for kc in (64, 256):
            for wg_rows in (32, 64):
                if (kc, wg_rows) != (plan.params["kc"], plan.tiles["rows"]):
                    variants.append(Plan({**plan.params, "kc": kc}, {**plan.tiles, "rows": wg_rows}, plan.rows, plan.kernel))
        return variants

    def replan(self, plan: Plan, params: dict[str, Any], weight_shape: tuple[int, int]) -> Plan | None:
        if plan.params == params:
            return plan
        if {k: v for k, v in plan.params.items() if k != "kc"} != {k: v for k, v in params.items() if k != "kc"} or "kc" not in params:
            return None
        if "mb" in plan.tiles:  # the K-blocked kernel reads any chunking
            return Plan(params, plan.tiles, plan.rows, plan.kernel)
        # The batch-1 kernel reads plain CSR only: one row runs the K-blocked kernel on chunked storage.
        config = blocked_config(1, weight_shape[0], 1.0)
        tiles = {"mb": config.mb, "rows": config.rows, "unroll": config.unroll, "chains": config.chains}
        return Plan(params, tiles, rows=padded_rows(1, config.mb))

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "cols", "offsets", "scales") if params.get("quant") else ("values", "cols", "offsets")

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        if not params.get("quant"):
            return _pack_chunks(weight, params)
        quantized = quantize(weight, scheme(params["quant"]))
        storage = _pack_chunks(quantized.q, params)
        if quantized.quant.bits == 4:
            values = storage["values"]
            storage["values"] = pack_nibbles(np.concatenate([values, np.zeros(len(values) % 2, np.int8)]))
        return {**storage, "scales": quantized.scales}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        if not params.get("quant"):
            return _unpack_chunks(storage, shape)
        quant = scheme(params["quant"])
        values = unpack_nibbles(storage["values"]) if quant.bits == 4 else storage["values"]
        return dequantize(_unpack_chunks({**storage, "values": values}, shape), storage["scales"], quant)

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        kc, bits = int(kernel.params["kc"]), int(kernel.params["col_bits"])  # checked by storage_problem
        cols = list(ir.RankedTensorType(kernel.storage_operands[1].type).shape) if len(kernel.storage_operands) > 1 else [-1]
        chunks = -(-kernel.in_features // kc)
        offsets = ("offsets", [chunks * kernel.out_features + 1], ("i32",))
        quant = kernel.params.get("quant")
        if not quant:
            return [("values", cols, FLOAT_STORAGE), ("cols", cols, (f"i{bits}",)), offsets]
        q = scheme(str(quant))
        values = [-(-cols[0] // 2)] if q.bits == 4 else cols
        scales = [kernel.out_features, -(-kernel.in_features // q.group)] if q.group else [kernel.out_features]
        return [("values", values, ("i8",)), ("cols", cols, (f"i{bits}",)), offsets, ("scales", scales, ("f32",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        kc, bits = kernel.params.get("kc"), kernel.params.get("col_bits")
        if not isinstance(kc, int) or kc <= 0 or bits not in (16, 32):
            return f"with format 'csr' needs params kc > 0 and col_bits 16 or 32, got {kernel.params}"
        if kernel.params.get("quant") is not None:
            try:
                scheme(str(kernel.params["quant"]))
            except ValueError as err:
                return f"with format 'csr': {err}"
        return super().storage_problem(kernel)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        rows, width = shape
        kc = int(params["kc"])
        offsets = storage["offsets"].astype(np.int64)
        if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] > len(storage["cols"]):
            return "storage 'offsets' must rise from 0 to at most the number of values"
        nnz = int(offsets[-1])
        cols = storage["cols"][:nnz]
        cols = read_columns(cols)
        chunk = np.repeat(np.arange(len(offsets) - 1) // rows, np.diff(offsets))
        if np.any(cols >= width) or np.any(cols < chunk * kc) or np.any(cols >= (chunk + 1) * kc):
            return f"storage 'cols' holds a column outside its {kc}-column chunk or beyond in_features = {width}"
        return None

    def stored_values(self, storage: dict[str, np.ndarray], params: dict[str, Any]) -> int:
        return int(storage["offsets"][-1])

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        if target == "native":
            return _lower_native(kernel)
        return _lower_cpu(kernel)

    def plan_conv(self, pattern: Pattern, weight: np.ndarray, conv: ConvGeometry, input_shape: tuple[int, ...], target: str) -> Plan | None:
        """Plain CSR (one chunk) for the direct sparse convolution, on ``cpu``."""
        if target != "cpu" or not is_float_storage(weight):
            return None
        n, _, h, w = input_shape
        (sh, sw) = conv.strides
        oh, _ = conv.output_size(h, w)
        positions = oh * -(-w // sw)
        config = direct_conv_config(positions, weight.shape[0])
        tile = config.vectors * LANES
        params = {"kc": weight.shape[1], "col_bits": 16 if weight.shape[1] <= 65535 else 32}
        return Plan(params, {"vectors": config.vectors, "rows": config.rows}, rows=n * -(-positions // tile) * tile, kernel="conv")

    def lower_conv(self, kernel: Kernel, target: str) -> ir.Value:
        if kernel.params.get("quant") or int(kernel.params["kc"]) < kernel.in_features:
            raise ValueError(f"the direct sparse convolution reads plain float CSR (kc >= {kernel.in_features}), got {kernel.params}")
        default = direct_conv_config(1, kernel.out_features)
        config = DirectConvConfig(int(kernel.tiles.get("vectors", default.vectors)), int(kernel.tiles.get("rows", default.rows)))
        return conv_epilogue(kernel, direct_sparse_conv(kernel, config))

    def describe(self, params: dict[str, Any]) -> str:
        quant = f" ({params['quant']})" if params.get("quant") else ""
        return f"CSR{quant}, {params.get('col_bits')}-bit columns, {params.get('kc')}-column chunks"


def _lower_native(kernel: Kernel) -> ir.Value:
    storage = kernel.storage_values
    x = as_float32(kernel.input)
    bits = int(kernel.params["col_bits"])
    weight = assemble(CSR, kernel.shape, ir.F32Type.get(), [storage["offsets"], storage["cols"]], storage["values"], bits)
    acc = matmul_transposed(x, weight)
    return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)


def _lower_cpu(kernel: Kernel) -> ir.Value:
    """The storage multiplied by a hand-written dispatch; the epilogue around it."""
    x = as_float32(kernel.input)
    m, k = ir.RankedTensorType(x.type).shape
    n = kernel.out_features
    f32 = ir.F32Type.get()
    storage = kernel.storage_values
    col_type = ir.RankedTensorType(storage["cols"].type).element_type
    quant = scheme(kernel.params["quant"]) if kernel.params.get("quant") else FLOAT
    values_spec = CsrValues(ir.RankedTensorType(storage["cols"].type).shape[0], ir.RankedTensorType(storage["values"].type).element_type, quant)
    operands = [storage["values"], storage["cols"], storage["offsets"]] + ([storage["scales"]] if quant.group else [])
    module = module_of(kernel.op)
    tiles = kernel.tiles
    if m == 1 and "mb" not in tiles:  # the batch-1 kernel (one row can also run the K-blocked one)
        if int(kernel.params["kc"]) < k:
            raise ValueError(f"the batch-1 CSR kernel reads plain CSR (kc >= {k}), got kc = {kernel.params['kc']}")
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = scalar_csr_kernel(
                unique_symbol(module, "sparsile_kernel_"), n=n, k=k, col_type=col_type, values_spec=values_spec,
                rows=int(tiles.get("rows", 256)), unroll=int(tiles.get("unroll", 8)), chains=int(tiles.get("chains", 4)),
            )
        x1 = tensor.CollapseShapeOp(ir.RankedTensorType.get([k], f32), x, [[0, 1]]).result
        y1 = dispatch(module, body, [x1, *operands], ir.RankedTensorType.get([n], f32))
        acc = tensor.ExpandShapeOp(ir.RankedTensorType.get([1, n], f32), y1, [[0, 1]], [], [1, n]).result
        return kernel_epilogue(kernel, acc)
    default = blocked_config(m, n, 1.0)
    config = BlockedConfig(
        mb=int(tiles.get("mb", default.mb)),
        kc=int(kernel.params["kc"]),
        rows=int(tiles.get("rows", default.rows)),
        unroll=int(tiles.get("unroll", default.unroll)),
        chains=int(tiles.get("chains", default.chains)),
    )

    def call(xt: ir.Value, blocks: int) -> ir.Value:
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = blocked_csr_kernel(unique_symbol(module, "sparsile_kernel_"), n=n, k=k, blocks=blocks, col_type=col_type, config=config,
                                      values_spec=values_spec)
        return dispatch(module, body, [xt, *operands], ir.RankedTensorType.get([blocks, n, config.mb], f32))

    acc = feature_major_product(x, n, config.mb, call)
    return kernel_epilogue(kernel, acc)


def _pack_chunks(weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """``values``, ``cols`` and ``offsets`` of ``weight`` cut into ``kc``-column chunks."""
    rows, width = weight.shape
    kc = int(params["kc"])
    chunks = -(-width // kc)
    padded = np.zeros((rows, chunks * kc), weight.dtype)
    padded[:, :width] = weight
    by_chunk = padded.reshape(rows, chunks, kc).transpose(1, 0, 2)
    c, n, k = np.nonzero(by_chunk)
    offsets = np.zeros(chunks * rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(c * rows + n, minlength=chunks * rows), out=offsets[1:])
    values = np.ascontiguousarray(by_chunk[c, n, k])
    cols = (c * kc + k).astype(np.int64)
    if not len(values):  # zero-size memrefs are not bindable: one entry that is never read
        values, cols = np.zeros(1, weight.dtype), np.zeros(1, np.int64)
    return {"values": values, "cols": column_array(cols, int(params["col_bits"])), "offsets": offsets}


def _unpack_chunks(storage: dict[str, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """The ``[N, K]`` matrix of chunked CSR storage."""
    rows, _ = shape
    offsets = storage["offsets"].astype(np.int64)
    nnz = int(offsets[-1])
    slots = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    cols = storage["cols"][:nnz]
    cols = read_columns(cols)
    dense = np.zeros(shape, dtype=storage["values"].dtype)
    dense[slots % rows, cols] = storage["values"][:nnz]
    return dense


FORMAT = CsrFormat()
