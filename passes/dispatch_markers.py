"""Hand-written IREE dispatches, expressed in upstream MLIR for the hand-off to materialise.

sparsile builds its own kernels (scf/vector/memref code) but IREE's ``stream`` and
``flow`` dialects are not registered in the bindings where it works. So a kernel
is a private ``func.func`` whose leading ``index`` arguments are the workgroup
ids and whose memref arguments are the dispatch's operands then its result,
marked ``sparsile.workgroups = array<i64: X, Y, Z>``; a call site is a
``func.call`` of a private declaration marked ``sparsile.kernel = @kernel``.
:mod:`sparsile.iree_backend` turns both into ``stream.executable`` and
``flow.dispatch`` in IREE's own bindings.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..mlir import func, ir

WORKGROUPS_ATTR = "sparsile.workgroups"
KERNEL_ATTR = "sparsile.kernel"


def module_of(op: ir.Operation) -> ir.Operation:
    """The module enclosing ``op``."""
    parent = op.parent
    while parent is not None and parent.name != "builtin.module":
        parent = parent.parent
    if parent is None:
        raise ValueError("operation is not inside a module")
    return parent


def unique_symbol(module: ir.Operation, prefix: str) -> str:
    taken = {ir.StringAttr(op.attributes["sym_name"]).value for op in module.regions[0].blocks[0].operations if "sym_name" in op.attributes}
    i = 0
    while f"{prefix}{i}" in taken:
        i += 1
    return f"{prefix}{i}"


def dispatch(module: ir.Operation, kernel: func.FuncOp, args: Sequence[ir.Value], result_type: ir.Type) -> ir.Value:
    """A call (at the current insertion point) that the hand-off turns into ``flow.dispatch`` of ``kernel``."""
    name = unique_symbol(module, "sparsile_dispatch_")
    with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
        decl = func.FuncOp(name, ir.FunctionType.get([a.type for a in args], [result_type]), visibility="private")
    decl.attributes[KERNEL_ATTR] = ir.FlatSymbolRefAttr.get(kernel.name.value)
    return func.CallOp([result_type], ir.FlatSymbolRefAttr.get(name), list(args)).result
