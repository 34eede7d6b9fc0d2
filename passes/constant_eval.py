"""Evaluating, with numpy, small tensors the program computes from constants alone.

torch-mlir exports an eval-mode batch norm's ``1 / sqrt(running_var + eps)`` as elementwise
``linalg.generic``s over constant buffers (with a ``cf.assert`` that the square root is not
zero) and reshapes them to broadcast over the channels. :func:`evaluate` computes such a
value at compile time: constants, unit reshapes and all-parallel generics whose operands
are evaluable and whose bodies use only the arithmetic below. Anything else is not
evaluated (None), so callers leave the IR as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..constants import constant_array
from ..mlir import ir
from .weights import defining_op

_NUMPY = {"f16": np.float16, "f32": np.float32, "f64": np.float64}

_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "arith.addf": np.add,
    "arith.subf": np.subtract,
    "arith.mulf": np.multiply,
    "arith.divf": np.divide,
    "arith.maximumf": np.maximum,
    "arith.minimumf": np.minimum,
}
_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "arith.negf": np.negative,
    "math.sqrt": np.sqrt,
    "math.rsqrt": lambda a: (1 / np.sqrt(a)).astype(a.dtype),
}
#: arith.cmpf's comparisons by predicate (oeq..one are 1..6, ueq..une 8..13: ordered ones are false
#: where an operand is NaN, unordered ones true).
_COMPARE: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    1: np.equal, 2: np.greater, 3: np.greater_equal, 4: np.less, 5: np.less_equal, 6: np.not_equal,
}


def _dtype(t: ir.Type) -> type | None:
    return _NUMPY.get(str(t))


def evaluate(value: ir.Value) -> np.ndarray | None:
    """The value of ``value`` when the program computes it from constants alone (see module doc), else None."""
    op = defining_op(value)
    if op is None:
        return None
    if op.name == "arith.constant":
        array = constant_array(op)
        if array is not None:
            return np.asarray(array)
        attr = op.attributes["value"]
        return np.asarray(ir.FloatAttr(attr).value, _dtype(attr.type)) if isinstance(attr, ir.FloatAttr) and _dtype(attr.type) else None
    if op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
        source = evaluate(op.operands[0])
        return None if source is None else source.reshape(ir.RankedTensorType(op.results[0].type).shape)
    if op.name == "linalg.generic":
        return _generic(op)
    return None


def _generic(op: ir.Operation) -> np.ndarray | None:
    """An all-parallel generic over evaluable inputs of its result's shape, its body run on whole arrays."""
    iterators = [str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    if len(op.results) != 1 or not all("parallel" in it for it in iterators):
        return None
    identity = ir.AffineMap.get_identity(maps[-1].n_dims, context=op.context)
    inputs = list(op.operands)[: len(op.operands) - 1]
    if any(m != identity for m in maps[: len(inputs)]):
        return None
    arrays = [evaluate(v) for v in inputs]
    if any(a is None for a in arrays):
        return None
    block = op.regions[0].blocks[0]
    values: dict[ir.Value, np.ndarray] = dict(zip(block.arguments, arrays))  # type: ignore[arg-type]

    def read(v: ir.Value) -> np.ndarray | None:
        return values[v] if v in values else evaluate(v)

    for body_op in (o.operation for o in block.operations):
        name = body_op.name
        read_operands = [read(v) for v in body_op.operands]
        operands = [a for a in read_operands if a is not None]
        if len(operands) != len(read_operands):
            return None
        if name == "linalg.yield":
            result = operands[0]
            shape = ir.RankedTensorType(op.results[0].type).shape
            element = _dtype(ir.RankedTensorType(op.results[0].type).element_type)
            return None if element is None else np.broadcast_to(result, shape).astype(element)
        if name == "cf.assert":
            if not np.all(operands[0]):
                return None  # the program would fail here: leave it to fail at run time
            continue
        produced = _apply(body_op, operands)
        if produced is None:
            return None
        values[body_op.results[0]] = produced
    return None


def _apply(op: ir.Operation, operands: list[np.ndarray]) -> np.ndarray | None:
    name = op.name
    with np.errstate(all="ignore"):
        if name in _BINARY:
            return np.asarray(_BINARY[name](operands[0], operands[1]))
        if name in _UNARY:
            return np.asarray(_UNARY[name](operands[0]))
        if name in ("arith.truncf", "arith.extf"):
            element = _dtype(op.results[0].type)
            return None if element is None else operands[0].astype(element)
        if name == "arith.cmpf":
            predicate = ir.IntegerAttr(op.attributes["predicate"]).value
            compare = _COMPARE.get(predicate if predicate < 8 else predicate - 7)
            if compare is None:
                return None
            nan = np.isnan(operands[0]) | np.isnan(operands[1])
            result = compare(operands[0], operands[1])
            return np.asarray((result & ~nan) if predicate < 8 else (result | nan))
        if name == "arith.constant":
            return evaluate(op.results[0])
    return None
