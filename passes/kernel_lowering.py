"""Lowering kernel ops through their storage formats (shared by ``lower-to-iree`` and ``lower-to-native``).

A kernel whose rows are dynamic is lowered once per row count ``schedule`` compiled it
for (its ``buckets``): nested ``scf.if`` on the call's rows pick the smallest that
holds them, pads the input with zero rows to it, runs the format's static
lowering there and keeps the real rows; the epilogue follows on the dynamic result. A
call with more rows than the last bucket fails an assertion naming the layer. Each storage
constant is named after its layer and role (``fc1.weight.values``) before it is lowered: a
parameter archive keys the weights by these names.
"""

from __future__ import annotations

from ..constants import NAME_ATTR
from ..mlir import arith, cf, ir, scf, tensor
from .conv_lowering import conv_epilogue, dense_conv
from .epilogue_ir import epilogue
from .formats.dense import dense_matmul
from .ir_build import constant, index_constant, zeros
from .ir_query import walk_ops
from .kernel_ops import Kernel, create, is_kernel
from .quantization import scheme
from .weights import defining_op


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
    _name_storage(kernel)
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
            elif kernel.rows < 0 and "buckets" in kernel.tiles:
                result = _lower_buckets(kernel, target)
            else:
                result = fmt.lower(kernel, target)
    except ValueError as err:
        op.location.emit_error(f"{where} with format '{fmt.name}' cannot be lowered: {err}")
        return False
    op.results[0].replace_all_uses_with(result)
    op.erase()
    return True


def _name_storage(kernel: Kernel) -> None:
    for role, value in kernel.storage_values.items():
        producer = defining_op(value)
        if producer is not None and producer.name == "arith.constant" and NAME_ATTR not in producer.attributes:
            producer.attributes[NAME_ATTR] = ir.StringAttr.get(f"{kernel.layer}.{role}")


def _lower_buckets(kernel: Kernel, target: str) -> ir.Value:
    """A dynamic-row kernel as a switch over static lowerings at its bucket row counts (see the module doc)."""
    counts = [int(c) for c in str(kernel.tiles["buckets"]).split(",")]
    fmt = kernel.format
    weight = kernel.dense_weight()
    if weight is None:
        raise ValueError("the storage is not constant")
    quant = scheme(kernel.params["quant"]) if kernel.params.get("quant") else None
    x = kernel.input
    k, n = kernel.in_features, kernel.out_features
    f32 = ir.F32Type.get()
    rows = tensor.DimOp(x, index_constant(0)).result
    fits = arith.CmpIOp(arith.CmpIPredicate.ule, rows, index_constant(counts[-1])).result
    cf.AssertOp(fits, f"layer '{kernel.layer}' was compiled for at most {counts[-1]} rows")
    dynamic = ir.RankedTensorType.get([ir.ShapedType.get_dynamic_size(), n], f32)
    # Every branch yields [largest bucket, n]: IREE resolves no dynamic size of an scf result, so
    # the real rows are sliced off afterwards (each branch writes into an uninitialised buffer).
    widest = ir.RankedTensorType.get([counts[-1], n], f32)

    def product(count: int) -> ir.Value:
        plan = fmt.plan_stored(kernel.pattern, weight, count, target, quant)
        plan = fmt.replan(plan, kernel.params, kernel.shape) if plan is not None else None
        if plan is None:
            raise ValueError(f"its storage has no plan at {count} rows")
        padded = tensor.InsertSliceOp(x, zeros([count, k], ir.RankedTensorType(x.type).element_type), [], [rows], [],
                                      [0, 0], [ir.ShapedType.get_dynamic_size(), k], [1, 1]).result
        static = create(fmt.name, kernel.storage_values, input=padded, result_type=ir.RankedTensorType.get([count, n], f32),
                        shape=kernel.shape, pattern=kernel.pattern, layer=kernel.layer, params=kernel.params, tiles=plan.tiles)
        result = fmt.lower(Kernel(static), target)
        static.erase()
        if count != counts[-1]:
            result = tensor.InsertSliceOp(result, tensor.EmptyOp([counts[-1], n], f32).result, [], [], [], [0, 0], [count, n], [1, 1]).result
        return result

    def choose(remaining: list[int]) -> ir.Value:
        """The smallest of ``remaining`` holding the rows: nested scf.if (IREE's streams take no scf.index_switch)."""
        if len(remaining) == 1:
            return product(remaining[0])
        holds = arith.CmpIOp(arith.CmpIPredicate.ule, rows, index_constant(remaining[0])).result
        branch = scf.IfOp(holds, [widest], has_else=True)
        with ir.InsertionPoint(branch.then_block):
            scf.YieldOp([product(remaining[0])])
        with ir.InsertionPoint(branch.else_block):
            scf.YieldOp([choose(remaining[1:])])
        return branch.results[0]

    chosen = choose(counts)
    kept = tensor.ExtractSliceOp(dynamic, chosen, [], [rows], [], [0, 0], [ir.ShapedType.get_dynamic_size(), n], [1, 1]).result
    return epilogue(kept, kernel.epilogue, kernel.scale, kernel.bias, kernel.residual)
