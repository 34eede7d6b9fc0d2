"""``dense``: the whole ``[out, in]`` weight, multiplied by an ordinary matmul.

The storage of every weight between ``form-kernels`` and ``schedule``, and the
dense fallback after it. It lowers on every target the way the importer writes a
linear layer (a transposed ``[out, in]`` constant into ``linalg.matmul``), which is
the form IREE compiles best; the reference lowering of every other format is this
one applied to the unpacked weight.

Quantized (``params["quant"]``), the values are integers ``[out, kp]`` (``kp``: the
reduction dimension padded to whole 16-column tiles; int4 two per byte) with their
``scales``: on ``cpu`` a few rows go through the row kernel, which streams the integers
once (:mod:`sparsile.passes.quantized_products`), more rows through a dequantizing
generic and IREE's matmul, as on the GPU targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...dialects.patterns import Pattern
from ...mlir import ir
from ..conv_lowering import conv_epilogue, dense_conv, geometry_of
from ..epilogue_ir import epilogue, kernel_epilogue
from ..ir_build import matmul, transpose
from ..kernel_values import Quantization, as_float32
from ..quantization import dequantize as dequantize_array
from ..quantization import pack_nibbles, quantize, scheme, scheme_name, unpack_nibbles
from ..quantized_products import dequantized, pad_columns, padded_to_tiles, quantized_product
from ..row_kernels import MAX_ROWS, workgroup_rows
from .base import GPU_FAMILIES, TARGET_FAMILIES, Plan, StorageFormat

if TYPE_CHECKING:
    from ..conv_geometry import ConvGeometry
    from ..kernel_ops import Kernel

FLOAT_TYPES = ("f16", "bf16", "f32", "f64")


def dense_matmul(kernel: Kernel, weight: ir.Value) -> ir.Value:
    """``kernel``'s computation with ``weight`` (an ``[out, in]`` tensor) as a matmul plus the epilogue,
    accumulated in the kernel's result type (float32 where a half-precision model's kernel returns it)."""
    acc = matmul(kernel.input, transpose(weight, [1, 0]), ir.RankedTensorType(kernel.op.results[0].type).element_type)
    return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)


class DenseFormat(StorageFormat):
    """Every value of the weight."""

    name = "dense"
    targets = frozenset(TARGET_FAMILIES)
    kernels = ("matmul", "gpu_matmul", "rows", "dequant", "conv")

    def holds(self, pattern: Pattern) -> bool:
        return True

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        return Plan(kernel="gpu_matmul" if target in GPU_FAMILIES else "")

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        if target == "native":
            return None
        params = {"quant": scheme_name(quant), "kp": padded_to_tiles(weight_shape[1])}
        if target in GPU_FAMILIES:
            return Plan(params, kernel="gpu_matmul")
        if rows <= MAX_ROWS:
            return Plan(params, {"rows": workgroup_rows(weight_shape[0])}, kernel="rows")
        return Plan(params, kernel="dequant")

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        return ("values", "scales") if params.get("quant") else ("values",)

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        if not params.get("quant"):
            return {"values": np.ascontiguousarray(weight)}
        quantized = quantize(weight, scheme(params["quant"]))
        n, k = weight.shape
        q = np.zeros((n, int(params["kp"])), np.int8)
        q[:, :k] = quantized.q
        values = pack_nibbles(q) if quantized.quant.bits == 4 else q
        return {"values": np.ascontiguousarray(values), "scales": quantized.scales}

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        if not params.get("quant"):
            return np.asarray(storage["values"])
        quant = scheme(params["quant"])
        q = unpack_nibbles(storage["values"]) if quant.bits == 4 else storage["values"]
        return dequantize_array(q[:, : shape[1]], storage["scales"], quant)

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        if not kernel.params.get("quant"):
            return [("values", list(kernel.shape), FLOAT_TYPES)]
        quant = scheme(kernel.params["quant"])
        n, kp = kernel.out_features, int(kernel.params["kp"])
        scales = [n, -(-kp // quant.group)] if quant.group else [n]
        return [("values", [n, kp // 2 if quant.bits == 4 else kp], ("i8",)), ("scales", scales, ("f32",))]

    def storage_problem(self, kernel: Kernel) -> str | None:
        quant, kp = kernel.params.get("quant"), kernel.params.get("kp")
        if quant is not None:
            try:
                scheme(str(quant))
            except ValueError as err:
                return f"with format 'dense': {err}"
            if not isinstance(kp, int) or kp % 16 or kp < kernel.in_features:
                return f"with format 'dense' quantized needs params kp, a multiple of 16 >= in_features = {kernel.in_features}, got {kernel.params}"
        return super().storage_problem(kernel)

    def kernel(self, plan: Plan) -> str:
        return plan.kernel or "matmul"

    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        if not kernel.params.get("quant"):
            return dense_matmul(kernel, kernel.storage_values["values"])
        return kernel_epilogue(kernel, quantized_dense_product(kernel, target))

    def plan_conv(self, pattern: Pattern, weight: np.ndarray, conv: ConvGeometry, input_shape: tuple[int, ...], target: str) -> Plan | None:
        return Plan(kernel="conv")

    def lower_conv(self, kernel: Kernel, target: str) -> ir.Value:
        return conv_epilogue(kernel, dense_conv(kernel.input, kernel.storage_values["values"], geometry_of(kernel)))

    def describe(self, params: dict[str, Any]) -> str:
        return f"{params['quant']}, {params.get('kp')} padded columns" if params.get("quant") else "dense"


def quantized_dense_product(kernel: Kernel, target: str) -> ir.Value:
    """The kernel's input times its quantized dense weight, before the epilogue (int8 row scales not applied)."""
    return quantized_values_product(kernel, as_float32(kernel.input), target)


def quantized_values_product(kernel: Kernel, x: ir.Value, target: str, with_row_scales: bool = False) -> ir.Value:
    """``x`` times the kernel's quantized ``values [R, kp]`` (and ``scales``), int8 row scales applied if asked."""
    quant = scheme(kernel.params["quant"])
    storage = kernel.storage_values
    scales = storage["scales"]
    if target == "cpu":
        acc = quantized_product(kernel.op, x, storage["values"], scales, quant, int(kernel.tiles.get("rows", 64)))
    else:
        width = ir.RankedTensorType(storage["values"].type).shape[1]
        kp = width * 2 if quant.bits == 4 else width
        acc = matmul(pad_columns(x, kp), transpose(dequantized(storage["values"], scales, quant, with_row_scales=False), [1, 0]))
    if with_row_scales and not quant.group:
        acc = epilogue(acc, "none", 1.0, None, None, scales)
    return acc


FORMAT = DenseFormat()
