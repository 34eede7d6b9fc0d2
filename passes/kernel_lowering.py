"""Lowering kernel ops through their storage formats (shared by ``lower-to-iree`` and ``lower-to-native``)."""

from __future__ import annotations

from ..mlir import ir
from .conv_lowering import conv_epilogue, dense_conv
from .formats.dense import dense_matmul
from .ir_build import constant
from .ir_query import walk_ops
from .kernel_ops import Kernel, is_kernel


def lower_kernels(module: ir.Operation, target: str, reference: bool = False) -> bool:
    """Replace every kernel op under ``module`` by its format's lowering for ``target``; False after an error."""
    ok = True
    for op in [o for o in walk_ops(module) if is_kernel(o)]:
        ok &= _lower(Kernel(op), target, reference)
    return ok


def _lower(kernel: Kernel, target: str, reference: bool) -> bool:
    op = kernel.op
    where = f"'{op.name}' of layer '{kernel.layer}'"
    rank = ir.RankedTensorType(kernel.input.type).rank
    if rank != 2 and kernel.conv is None:
        op.location.emit_error(f"{where}: a rank-{rank} input is not lowered yet (kernels take [rows, features])")
        return False
    fmt = kernel.format
    if not reference and target not in fmt.targets:
        supported = ", ".join(sorted(fmt.targets)) or "none"
        op.location.emit_error(
            f"{where}: storage format '{fmt.name}' has no lowering for target '{target}' (it lowers on: {supported}); "
            "run 'schedule' for this target to choose a storage it runs"
        )
        return False
    try:
        with ir.InsertionPoint(op), op.location:
            if reference:
                weight = kernel.dense_weight()
                if weight is None:
                    raise ValueError("the storage is not constant")
                if kernel.conv is not None:
                    result = conv_epilogue(kernel, dense_conv(kernel.input, constant(weight), kernel.conv))
                else:
                    result = dense_matmul(kernel, constant(weight))
            elif kernel.conv is not None:
                result = fmt.lower_conv(kernel, target)
            else:
                result = fmt.lower(kernel, target)
    except ValueError as err:
        op.location.emit_error(f"{where} with format '{fmt.name}' cannot be lowered: {err}")
        return False
    op.results[0].replace_all_uses_with(result)
    op.erase()
    return True
