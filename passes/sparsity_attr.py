"""The ``sparsile.sparsity`` attribute: what detection found and what was chosen, on the IR.

It is a dictionary of plain values (strings, floats, integers) carried by the
weight constant after ``detect-sparsity`` and by the kernel op after
``form-kernels``, so every stage's dump shows it and the report reads it back.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ..mlir import ir

SPARSITY_ATTR = "sparsile.sparsity"


def to_attr(value: Any) -> ir.Attribute:
    """A plain value (bool, int, float, str) as an attribute."""
    if isinstance(value, bool):
        return ir.BoolAttr.get(value)
    if isinstance(value, int):
        return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), value)
    if isinstance(value, float):
        return ir.FloatAttr.get(ir.F64Type.get(), value)
    if isinstance(value, str):
        return ir.StringAttr.get(value)
    raise TypeError(f"cannot store {type(value).__name__} in {SPARSITY_ATTR}")


def from_attr(attr: ir.Attribute) -> Any:
    """The plain value of an attribute written by :func:`to_attr`."""
    if isinstance(attr, ir.BoolAttr):
        return attr.value
    if isinstance(attr, ir.IntegerAttr):
        return attr.value
    if isinstance(attr, ir.FloatAttr):
        return attr.value
    if isinstance(attr, ir.StringAttr):
        return attr.value
    return str(attr)


def read(op: ir.Operation) -> dict[str, Any] | None:
    """The sparsity record of ``op``, or None."""
    if SPARSITY_ATTR not in op.attributes:
        return None
    attr = ir.DictAttr(op.attributes[SPARSITY_ATTR])
    return {attr[i].name: from_attr(attr[i].attr) for i in range(len(attr))}


def write(op: ir.Operation, record: dict[str, Any]) -> None:
    """Store ``record`` on ``op`` (replacing any previous one)."""
    with op.context:
        op.attributes[SPARSITY_ATTR] = ir.DictAttr.get({k: to_attr(v) for k, v in record.items()})


def update(op: ir.Operation, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into ``op``'s record and return the result."""
    record = {**(read(op) or {}), **changes}
    write(op, record)
    return record


def remove(op: ir.Operation) -> None:
    """Drop ``op``'s record, if it has one."""
    if SPARSITY_ATTR in op.attributes:
        del op.attributes[SPARSITY_ATTR]


def encode_mask(mask: np.ndarray) -> str:
    """A 1-D boolean mask as a record value (packed bits in base64): which channels were kept."""
    return base64.b64encode(np.packbits(np.asarray(mask, bool)).tobytes()).decode()


def decode_mask(text: str, size: int) -> np.ndarray:
    """The ``size`` booleans :func:`encode_mask` wrote."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8), count=size).astype(bool)
