"""``lower-to-iree``: every ``sparsile.matmul`` becomes dense-layout IR for IREE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mlir import ir
from .formats.base import TARGET_FAMILIES
from .kernel_lowering import lower_kernels
from .pass_base import Pass


@dataclass(frozen=True)
class LowerToIree(Pass):
    """Lower each kernel op through its storage format's lowering for ``target``.

    Matches every ``sparsile.matmul`` and ``sparsile.conv``; its format
    (:mod:`sparsile.passes.formats`) emits IR that reads the storage operands as
    ``schedule`` wrote them: on ``cpu``, ``csr`` storage feeds the hand-written K-blocked
    or batch-1 CSR dispatch (a convolution's, the direct sparse convolution), ``nm``
    the batch-1 2:4 select dispatch, ``dense`` and ``channels`` become
    ``linalg.matmul`` or ``linalg.conv_2d_nchw_fchw`` (plus a gather/scatter for kept channels); the epilogue (scale,
    bias, activation, residual) follows as one elementwise generic. Fails, naming the
    layer, on a kernel whose format does not lower on ``target`` (``cpu``, ``gpu``,
    ``vulkan``) or whose storage is not constant. With ``reference=true`` every kernel
    is lowered as a dense matmul of its unpacked weight: the numerics every lowering
    must reproduce.
    """

    name = "lower-to-iree"
    reference: bool = False
    target: str = "cpu"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        if self.target not in TARGET_FAMILIES or self.target == "native":
            op.location.emit_error(f"lower-to-iree: target must be cpu, gpu or vulkan, not '{self.target}'")
            pass_.signal_pass_failure()
            return
        if not lower_kernels(op, self.target, self.reference):
            pass_.signal_pass_failure()
