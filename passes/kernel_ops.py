"""Reading and rebuilding ``sparsile.*`` kernel ops (optional operands change their segments)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dialects.sparsile_dialect import KERNEL_OPS
from ..mlir import ir
from . import sparsity_attr
from .kernel_weights import kernel_weight

_CLASSES = {f"sparsile.{cls.OPERATION_NAME.split('.', 1)[-1]}": cls for cls in KERNEL_OPS}


def is_kernel(op: ir.Operation) -> bool:
    return op.name in _CLASSES


def fields(kernel: ir.Operation) -> dict[str, Any]:
    """Every constructor field of ``kernel``: operands by name, attributes, the result type."""
    view = kernel.opview
    names = [p for p in inspect.signature(_CLASSES[kernel.name].__init__).parameters if p not in ("self", "loc", "ip")]
    values: dict[str, Any] = {}
    for name in names:
        if name == "out":
            values[name] = kernel.results[0].type
        elif name in kernel.attributes:
            values[name] = kernel.attributes[name]
        else:
            values[name] = getattr(view, name)
    return values


def rebuild(kernel: ir.Operation, **changes: Any) -> ir.Operation:
    """A copy of ``kernel`` with ``changes`` (operands, attributes or ``out``) that replaces it."""
    values = {**fields(kernel), **changes}
    with ir.InsertionPoint(kernel), kernel.location:
        new = _CLASSES[kernel.name](**values).operation
    record = sparsity_attr.read(kernel)
    if record is not None:
        sparsity_attr.write(new, record)
    if "out" not in changes:
        kernel.results[0].replace_all_uses_with(new.results[0])
    return new


def single_user(value: ir.Value) -> ir.Operation | None:
    """The only op using ``value`` (once), or None."""
    users = [use.owner for use in value.uses]
    if len(users) != 1:
        return None
    owner = users[0]
    return owner.operation if hasattr(owner, "operation") else owner


@dataclass
class KernelParts:
    """What a lowering needs from a kernel op: the dense weight, the input and the epilogue."""

    weight: np.ndarray
    input: ir.Value
    activation: str
    scale: float
    bias: ir.Value | None
    residual: ir.Value | None


def lowering_parts(kernel: ir.Operation) -> KernelParts | None:
    """The parts of ``kernel`` for a lowering, or None after emitting why it cannot be lowered."""
    weight = kernel_weight(kernel)
    if weight is None:
        kernel.location.emit_error(f"'{kernel.name}' needs constant packed operands to be lowered")
        return None
    x = kernel.operands[0]
    rank = ir.RankedTensorType(x.type).rank
    if rank != 2:
        kernel.location.emit_error(f"'{kernel.name}' with a rank-{rank} input is not lowered yet")
        return None
    state = fields(kernel)
    return KernelParts(
        weight,
        x,
        ir.StringAttr(state["epilogue"]).value,
        ir.FloatAttr(state["scale"]).value,
        state["bias"],
        state["residual"],
    )
