"""The kernels' epilogue as IR: ``act(acc * scale * channel_scale + bias) + residual`` in one elementwise generic.

Every lowering (IREE targets and native) ends a kernel with it, so the fused epilogue
means the same everywhere. GELU's tanh form is computed as ``x * sigmoid(2u)``, which
equals ``0.5 x (1 + tanh(u))`` but does not cancel catastrophically where
``tanh(u)`` is close to -1.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..mlir import arith, ir
from ..mlir import math as math_dialect  # the MLIR dialect, not the stdlib module
from .ir_build import elementwise, scalar

if TYPE_CHECKING:
    from .kernel_ops import Kernel


def kernel_epilogue(kernel: Kernel, acc: ir.Value) -> ir.Value:
    """``kernel``'s epilogue on its product ``acc``, with the int8 row scales of quantized storage."""
    channel_scales = kernel.storage_values.get("scales") if kernel.params.get("quant") == "int8" else None
    return epilogue(acc, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual, channel_scales, 1 if kernel.conv else -1)


def epilogue(
    acc: ir.Value,
    activation: str,
    scale: float,
    bias: ir.Value | None,
    residual: ir.Value | None,
    channel_scales: ir.Value | None = None,
    channel_dim: int = -1,
) -> ir.Value:
    """``act(acc * scale * channel_scales + bias) + residual`` as one elementwise generic; ``bias`` and
    ``channel_scales`` run along ``channel_dim`` (the last dim; 1 for a convolution's NCHW result)."""
    if activation == "none" and scale == 1.0 and bias is None and residual is None and channel_scales is None:
        return acc
    acc_type = ir.RankedTensorType(acc.type)
    element = acc_type.element_type
    rank = acc_type.rank
    identity = ir.AffineMap.get_identity(rank)
    along_channels = ir.AffineMap.get(rank, 0, [ir.AffineExpr.get_dim(channel_dim % rank)])
    inputs, maps = [acc], [identity]
    if channel_scales is not None:
        inputs.append(channel_scales)
        maps.append(along_channels)
    if bias is not None:
        inputs.append(bias)
        maps.append(along_channels)
    if residual is not None:
        inputs.append(residual)
        maps.append(identity)

    def body(args: list[ir.Value]) -> ir.Value:
        value, rest = args[0], args[1:]
        if channel_scales is not None:
            value = arith.MulFOp(value, rest.pop(0)).result
        if scale != 1.0:
            value = arith.MulFOp(value, scalar(scale, element)).result
        if bias is not None:
            value = arith.AddFOp(value, rest.pop(0)).result
        value = activate(value, activation, element)
        if residual is not None:
            value = arith.AddFOp(value, rest.pop(0)).result
        return value

    return elementwise(inputs, maps, acc_type, body)


def activate(value: ir.Value, activation: str, element: ir.Type) -> ir.Value:
    """The scalar activation ``activation`` of ``value``."""
    if activation == "none":
        return value
    if activation == "relu":
        return arith.MaximumFOp(value, scalar(0.0, element)).result
    if activation == "silu":
        return arith.DivFOp(value, _one_plus_exp(arith.NegFOp(value).result, element)).result
    if activation == "gelu":
        scaled = arith.MulFOp(value, scalar(1.0 / math.sqrt(2.0), element)).result
        cdf = arith.AddFOp(scalar(1.0, element), math_dialect.ErfOp(scaled).result).result
        return arith.MulFOp(arith.MulFOp(value, scalar(0.5, element)).result, cdf).result
    if activation == "gelu_tanh":
        return arith.DivFOp(value, _one_plus_exp(gelu_tanh_exponent(value, element), element)).result
    raise ValueError(f"unknown activation {activation}")


def gelu_tanh_exponent(x: ir.Value, element: ir.Type) -> ir.Value:
    """``-2u`` with ``u = sqrt(2/pi) * (x + 0.044715 x^3)``: GELU-tanh is ``x / (1 + exp(-2u))``."""
    cube = arith.MulFOp(arith.MulFOp(x, x).result, x).result
    inner = arith.AddFOp(x, arith.MulFOp(cube, scalar(0.044715, element)).result).result
    return arith.MulFOp(inner, scalar(-2.0 * math.sqrt(2.0 / math.pi), element)).result


def _one_plus_exp(exponent: ir.Value, element: ir.Type) -> ir.Value:
    return arith.AddFOp(scalar(1.0, element), math_dialect.ExpOp(exponent).result).result
