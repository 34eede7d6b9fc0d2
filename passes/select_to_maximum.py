"""``select-to-maximum``: ``select(x >u c, x, c)`` becomes ``maximumf(x, c)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mlir import arith, ir
from .ir_query import walk_ops
from .pass_base import Pass
from .weights import defining_op

# arith.cmpf predicates "ugt" and "uge": true for unordered operands, so a NaN x is
# selected, exactly as maximumf propagates it.
_UNORDERED_GREATER = (9, 10)


@dataclass(frozen=True)
class SelectToMaximum(Pass):
    """Rewrite the compare-and-select ReLU torch-mlir emits into ``arith.maximumf``.

    Matches ``arith.select(arith.cmpf ugt|uge (x, c), x, c)`` on floats, which equals
    ``arith.maximumf(x, c)`` for every x including NaN and -0.0. The native-cpu
    pipeline runs it because MLIR's sparsifier fails to lower a compare-and-select
    producer fused into a sparse matmul (an unresolved storage-specifier
    materialization), while ``maximumf`` lowers.
    """

    name = "select-to-maximum"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        for select in [o for o in walk_ops(op) if o.name == "arith.select"]:
            condition, on_true, on_false = list(select.operands)
            cmp = defining_op(condition)
            if cmp is None or cmp.name != "arith.cmpf":
                continue
            predicate = ir.IntegerAttr(cmp.attributes["predicate"]).value
            lhs, rhs = list(cmp.operands)
            if predicate not in _UNORDERED_GREATER or lhs != on_true or rhs != on_false:
                continue
            with ir.InsertionPoint(select), select.location:
                maximum = arith.MaximumFOp(on_true, on_false).result
            select.results[0].replace_all_uses_with(maximum)
            select.erase()
            if not list(cmp.results[0].uses):
                cmp.erase()
