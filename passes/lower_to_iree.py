"""``lower-to-iree``: every ``sparsile.*`` kernel op becomes dense-layout IR for IREE."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


from ..mlir import arith, ir
from ..mlir import math as math_dialect  # the MLIR dialect, not the stdlib module
from .ir_build import constant, elementwise, matmul, scalar, transpose
from .ir_query import walk_ops
from .kernel_weights import PACKED_OPERANDS, kernel_weight
from .pass_base import Pass

@dataclass(frozen=True)
class LowerToIree(Pass):
    """Lower each sparsile kernel op to dense-layout linalg IR that IREE compiles.

    Matches every ``sparsile.*_matmul`` op whose packed operands are constants.
    This version is the reference lowering: it rebuilds the dense weight from the
    packing and emits ``linalg.matmul`` followed by one elementwise generic for the
    epilogue (scale, bias, activation, residual), so its numerics define what
    every faster lowering must reproduce. Fails on kernels whose packed operands
    are not constants.
    """

    name = "lower-to-iree"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        ok = True
        for kernel in [o for o in walk_ops(op) if o.name in PACKED_OPERANDS]:
            ok &= _lower(kernel)
        if not ok:
            pass_.signal_pass_failure()


def _lower(kernel: ir.Operation) -> bool:
    weight = kernel_weight(kernel)
    if weight is None:
        kernel.location.emit_error(f"'{kernel.name}' needs constant packed operands to be lowered")
        return False
    x = kernel.operands[0]
    if ir.RankedTensorType(x.type).rank != 2:
        kernel.location.emit_error(f"'{kernel.name}' with a rank-{ir.RankedTensorType(x.type).rank} input is not lowered yet")
        return False
    n_fixed = 1 + len(PACKED_OPERANDS[kernel.name][1])
    extras = list(kernel.operands)[n_fixed:]
    segments = list(ir.DenseI32ArrayAttr(kernel.attributes["operandSegmentSizes"]))
    bias = extras.pop(0) if segments[-2] else None
    residual = extras.pop(0) if segments[-1] else None
    with ir.InsertionPoint(kernel), kernel.location:
        # The importer's form (a transposed [out, in] constant): IREE compiles it best.
        acc = matmul(x, transpose(constant(weight), [1, 0]))
        result = epilogue(
            acc,
            ir.StringAttr(kernel.attributes["epilogue"]).value,
            ir.FloatAttr(kernel.attributes["scale"]).value,
            bias,
            residual,
        )
    kernel.results[0].replace_all_uses_with(result)
    kernel.erase()
    return True


def epilogue(acc: ir.Value, activation: str, scale: float, bias: ir.Value | None, residual: ir.Value | None) -> ir.Value:
    """``act(acc * scale + bias) + residual`` as one elementwise generic (acc is ``[M, N]``)."""
    if activation == "none" and scale == 1.0 and bias is None and residual is None:
        return acc
    acc_type = ir.RankedTensorType(acc.type)
    element = acc_type.element_type
    d0, d1 = ir.AffineExpr.get_dim(0), ir.AffineExpr.get_dim(1)
    inputs, maps = [acc], [ir.AffineMap.get(2, 0, [d0, d1])]
    if bias is not None:
        inputs.append(bias)
        maps.append(ir.AffineMap.get(2, 0, [d1]))
    if residual is not None:
        inputs.append(residual)
        maps.append(ir.AffineMap.get(2, 0, [d0, d1]))

    def body(args: list[ir.Value]) -> ir.Value:
        value, rest = args[0], args[1:]
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
        negated = arith.NegFOp(value).result
        denominator = arith.AddFOp(scalar(1.0, element), math_dialect.ExpOp(negated).result).result
        return arith.DivFOp(value, denominator).result
    if activation == "gelu":
        scaled = arith.MulFOp(value, scalar(1.0 / math.sqrt(2.0), element)).result
        cdf = arith.AddFOp(scalar(1.0, element), math_dialect.ErfOp(scaled).result).result
        return arith.MulFOp(arith.MulFOp(value, scalar(0.5, element)).result, cdf).result
    if activation == "gelu_tanh":
        cube = arith.MulFOp(arith.MulFOp(value, value).result, value).result
        inner = arith.AddFOp(value, arith.MulFOp(cube, scalar(0.044715, element)).result).result
        tanh = math_dialect.TanhOp(arith.MulFOp(inner, scalar(math.sqrt(2.0 / math.pi), element)).result).result
        cdf = arith.AddFOp(scalar(1.0, element), tanh).result
        return arith.MulFOp(arith.MulFOp(value, scalar(0.5, element)).result, cdf).result
    raise ValueError(f"unknown activation {activation}")
