"""Recognising elementwise epilogues (bias, scale, activations, residual) in ``linalg.generic`` bodies.

Each matcher looks at an all-parallel generic with one result and says what it
computes on the value it receives from a kernel: the bias add torch-mlir emits
for ``nn.Linear``, a multiplication by a scalar constant, ReLU (compare-and-select
or ``maximumf``), GELU in its erf and tanh forms, or a residual add.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..mlir import ir
from .weights import float_constant as _scalar


@dataclass(frozen=True)
class Epilogue:
    """What a generic adds to a kernel's result: one of bias, scale, activation, residual."""

    kind: str  # "bias" | "scale" | "activation" | "residual"
    value: ir.Value | None = None  # the bias or residual tensor
    scale: float = 1.0
    activation: str = "none"


def _body(generic: ir.Operation) -> list[ir.Operation]:
    return [op.operation for op in generic.regions[0].blocks[0].operations]


def _maps(generic: ir.Operation) -> list[ir.AffineMap]:
    return [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(generic.attributes["indexing_maps"])]


def _is_elementwise(generic: ir.Operation) -> bool:
    iterators = [str(a) for a in ir.ArrayAttr(generic.attributes["iterator_types"])]
    return len(generic.results) == 1 and all("parallel" in it for it in iterators)


def _names(ops: list[ir.Operation]) -> list[str]:
    return [op.name for op in ops]


def match(generic: ir.Operation, source: ir.Value) -> Epilogue | None:
    """The epilogue ``generic`` applies to ``source`` (its first input), or None."""
    if generic.name != "linalg.generic" or not _is_elementwise(generic):
        return None
    inputs = list(generic.operands)[: len(generic.operands) - 1]
    if not inputs or inputs[0] != source:
        return None
    maps = _maps(generic)
    rank = maps[0].n_dims
    identity = ir.AffineMap.get_identity(rank)
    if maps[0] != identity or maps[-1] != identity:
        return None
    body = _body(generic)
    args = list(generic.regions[0].blocks[0].arguments)
    if len(inputs) == 2 and _names(body) == ["arith.addf", "linalg.yield"]:
        operands = set(body[0].operands)
        if operands != {args[0], args[1]}:
            return None
        last_dim = ir.AffineMap.get(rank, 0, [ir.AffineExpr.get_dim(rank - 1)])
        if maps[1] == last_dim:
            return Epilogue("bias", value=inputs[1])
        if maps[1] == identity:
            return Epilogue("residual", value=inputs[1])
        return None
    if len(inputs) != 1:
        return None
    return _unary(body, args[0])


def _unary(body: list[ir.Operation], x: ir.Value) -> Epilogue | None:
    names = _names(body)
    if names == ["arith.mulf", "linalg.yield"]:
        a, b = list(body[0].operands)
        other = b if a == x else a if b == x else None
        value = _scalar(other) if other is not None else None
        return Epilogue("scale", scale=value) if value is not None else None
    if names == ["arith.maximumf", "linalg.yield"] and body[0].operands[0] == x and _scalar(body[0].operands[1]) == 0.0:
        return Epilogue("activation", activation="relu")
    if names == ["arith.cmpf", "arith.select", "linalg.yield"]:
        cmp, select = body[0], body[1]
        predicate = ir.IntegerAttr(cmp.attributes["predicate"]).value
        zero = cmp.operands[1]
        if predicate in (9, 10) and cmp.operands[0] == x and _scalar(zero) == 0.0:  # ugt, uge
            if list(select.operands)[1:] == [x, zero]:
                return Epilogue("activation", activation="relu")
    if names == ["arith.divf", "math.erf", "arith.addf", "arith.mulf", "arith.mulf", "linalg.yield"]:
        divisor = _scalar(body[0].operands[1])
        if divisor is not None and abs(divisor - math.sqrt(2)) < 1e-6:
            if body[0].operands[0] == x and x in list(body[4].operands):
                return Epilogue("activation", activation="gelu")
    if "math.tanh" in names and "math.fpowi" in names and names[-2:] == ["arith.mulf", "linalg.yield"]:
        if body[0].operands[0] == x and x in list(body[-2].operands):
            return Epilogue("activation", activation="gelu_tanh")
    return None


def is_sigmoid(generic: ir.Operation, source: ir.Value) -> bool:
    """Whether ``generic`` computes ``1 / (1 + exp(-source))`` (half of torch-mlir's SiLU)."""
    if generic.name != "linalg.generic" or not _is_elementwise(generic) or len(generic.operands) != 2:
        return False
    if generic.operands[0] != source:
        return False
    body = _body(generic)
    return _names(body) == ["arith.negf", "math.exp", "arith.addf", "arith.divf", "linalg.yield"]
