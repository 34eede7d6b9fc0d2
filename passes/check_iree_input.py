"""``check-iree-input``: nothing IREE cannot compile is left in the module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mlir import ir
from .ir_query import walk_ops
from .pass_base import Pass


@dataclass(frozen=True)
class CheckIreeInput(Pass):
    """Verify no sparse encoding and no ``sparsile.*`` op reaches IREE.

    IREE rejects every tensor carrying ``#sparse_tensor.encoding``; the kernel
    lowering must have turned each sparse kernel into dense-layout IR first. Fails
    on the first offending value of each op, naming the op and the type. Changes
    nothing.
    """

    name = "check-iree-input"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        ok = True
        for inner in walk_ops(op):
            if inner.name.startswith("sparsile."):
                inner.location.emit_error(f"op '{inner.name}' was not lowered: IREE cannot compile sparsile kernels")
                ok = False
                continue
            sparse = _first_sparse_type(inner)
            if sparse is not None:
                inner.location.emit_error(
                    f"op '{inner.name}' uses the sparse type {sparse}: IREE cannot compile sparse encodings"
                )
                ok = False
        if not ok:
            pass_.signal_pass_failure()


def _first_sparse_type(op: ir.Operation) -> ir.Type | None:
    values = list(op.results) + list(op.operands)
    for region in op.regions:
        for block in region.blocks:
            values.extend(block.arguments)
    types = [v.type for v in values]
    if op.name == "func.func":
        ftype = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
        types.extend(ftype.inputs)
        types.extend(ftype.results)
    for t in types:
        if isinstance(t, ir.RankedTensorType) and t.encoding is not None:
            return t
    return None
