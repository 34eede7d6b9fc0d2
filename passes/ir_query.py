"""Small read-only queries over IR that several passes and the driver share."""

from __future__ import annotations

from collections.abc import Iterator

from ..mlir import ir


def walk_ops(root: ir.Operation) -> Iterator[ir.Operation]:
    """Every operation nested under ``root`` (pre-order, ``root`` excluded)."""
    found: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        found.append(op)
        return ir.WalkResult.ADVANCE

    root.walk(visit, ir.WalkOrder.PRE_ORDER)
    return iter(found[1:])


def functions(module: ir.Operation) -> list[ir.Operation]:
    """The top-level ``func.func`` operations of a module."""
    return [op.operation for op in module.regions[0].blocks[0].operations if op.operation.name == "func.func"]


def symbol_name(func_op: ir.Operation) -> str:
    return ir.StringAttr(func_op.attributes["sym_name"]).value


def is_public(func_op: ir.Operation) -> bool:
    if "sym_visibility" not in func_op.attributes:
        return True
    return ir.StringAttr(func_op.attributes["sym_visibility"]).value == "public"


def function_type(func_op: ir.Operation) -> ir.FunctionType:
    return ir.FunctionType(ir.TypeAttr(func_op.attributes["function_type"]).value)


def entry_candidates(module: ir.Operation) -> list[ir.Operation]:
    """Public functions with a body: the ones a compiled artifact can export."""
    return [f for f in functions(module) if is_public(f) and len(f.regions[0].blocks) > 0]


def find_entry(module: ir.Operation, name: str | None) -> ir.Operation | None:
    """The entry function called ``name``, or the only public one when ``name`` is None."""
    candidates = entry_candidates(module)
    if name:
        return next((f for f in candidates if symbol_name(f) == name), None)
    return candidates[0] if len(candidates) == 1 else None
