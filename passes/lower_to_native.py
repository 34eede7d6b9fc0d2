"""``lower-to-native``: ``sparsile.matmul`` kernels become sparse linalg for MLIR's sparsifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mlir import ir
from .ir_query import entry_candidates
from .kernel_lowering import lower_kernels
from .pass_base import Pass

C_INTERFACE = "llvm.emit_c_interface"


@dataclass(frozen=True)
class LowerToNative(Pass):
    """Lower each kernel op through its storage format's ``native`` lowering.

    Matches every ``sparsile.matmul`` with constant storage. ``csr`` and ``bsr``
    storage become a sparse tensor assembled from the storage operands
    (``sparse_tensor.assemble``) multiplied by a ``linalg.generic``; ``dense`` and
    ``channels`` become ordinary linalg; the epilogue generic is shared with
    ``lower-to-iree``. It also marks the public functions with
    ``llvm.emit_c_interface`` so the ExecutionEngine can call them. Fails, naming the
    layer, on storage with no native lowering (``schedule{target=native}`` never
    chooses one).
    """

    name = "lower-to-native"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        ok = lower_kernels(op, "native")
        for func_op in entry_candidates(op):
            func_op.attributes[C_INTERFACE] = ir.UnitAttr.get()
        if not ok:
            pass_.signal_pass_failure()
