"""``fuse-epilogues``: bias, scale, activation and residual fused into the sparse kernel op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..constants import constant_array
from ..mlir import ir
from .epilogue_patterns import Epilogue, is_sigmoid, match
from .ir_build import constant
from .ir_query import walk_ops
from .kernel_ops import Kernel, is_kernel, rebuild, single_user
from .pass_base import Pass
from .weights import defining_op


@dataclass(frozen=True)
class FuseEpilogues(Pass):
    """Fold the elementwise ops after a kernel into its epilogue.

    Matches, on the single user of a ``sparsile.matmul`` or ``sparsile.conv`` result
    (whose bias comes with the convolution), the generics
    torch-mlir emits for: a bias add (``[N]`` broadcast), multiplication by a scalar
    constant, ReLU, GELU (erf and tanh forms), SiLU (its sigmoid and product
    generics), and a residual add of a same-shaped tensor; also an activation
    applied between an ``expand_shape`` and the ``collapse_shape`` that undoes it.
    Fusion follows the epilogue's order, ``act(acc * scale + bias) + residual``: a
    bias or scale after an activation, or anything after a residual, stops it. A
    scale after a constant bias scales the bias. Produces the same kernel op with the
    epilogue folded in; the matched generics are erased.
    """

    name = "fuse-epilogues"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        for kernel in [o for o in walk_ops(op) if is_kernel(o)]:
            while True:
                fused = self._fuse_once(kernel)
                if fused is None:
                    break
                kernel = fused

    def _fuse_once(self, kernel: ir.Operation) -> ir.Operation | None:
        result = kernel.results[0]
        state = Kernel(kernel)
        activation = state.epilogue
        has_residual = state.residual is not None
        silu = _silu_users(result)
        if silu is not None and activation == "none" and not has_residual:
            sigmoid, product = silu
            new = rebuild(kernel, epilogue="silu")
            _replace(product, new.results[0])
            sigmoid.erase()
            kernel.erase()
            return new
        user = single_user(result)
        if user is None:
            return None
        epilogue = match(user, result)
        if epilogue is None:
            return self._through_reshape(kernel, user, activation, has_residual)
        change = _change(epilogue, state, activation, has_residual, kernel)
        if change is None:
            return None
        new = rebuild(kernel, **change)
        if "residual" in change:
            new.move_before(user)  # the residual may be computed after the kernel (a shortcut convolution)
        _replace(user, new.results[0])
        kernel.erase()
        return new

    def _through_reshape(self, kernel: ir.Operation, expand: ir.Operation, activation: str, has_residual: bool) -> ir.Operation | None:
        """kernel -> expand_shape -> activation -> collapse_shape back to the kernel's shape."""
        if expand.name != "tensor.expand_shape" or activation != "none" or has_residual:
            return None
        generic = single_user(expand.results[0])
        if generic is None:
            return None
        epilogue = match(generic, expand.results[0])
        if epilogue is None or epilogue.kind != "activation":
            return None
        collapse = single_user(generic.results[0])
        if collapse is None or collapse.name != "tensor.collapse_shape" or collapse.results[0].type != kernel.results[0].type:
            return None
        new = rebuild(kernel, epilogue=epilogue.activation)
        _replace(collapse, new.results[0])
        generic.erase()
        expand.erase()
        kernel.erase()
        return new


def _change(epilogue: Epilogue, state: Kernel, activation: str, has_residual: bool, kernel: ir.Operation) -> dict[str, Any] | None:
    if has_residual:
        return None
    if epilogue.kind == "residual":
        return {"residual": epilogue.value}
    if activation != "none":
        return None
    if epilogue.kind == "activation":
        return {"epilogue": epilogue.activation}
    if epilogue.kind == "bias":
        # A convolution's bias runs along its channels (dimension 1), not along the last dimension.
        return None if state.bias is not None or state.conv is not None else {"bias": epilogue.value}
    # scale: (acc * s0 + b) * s = acc * (s0 * s) + b * s; the bias must be a constant to rescale.
    change: dict[str, Any] = {"scale": state.scale * epilogue.scale}
    if state.bias is not None:
        producer = defining_op(state.bias)
        bias = constant_array(producer) if producer is not None else None
        if bias is None:
            return None
        with ir.InsertionPoint(kernel), kernel.location:
            change["bias"] = constant((bias * epilogue.scale).astype(bias.dtype))
    return change


def _silu_users(value: ir.Value) -> tuple[ir.Operation, ir.Operation] | None:
    """(sigmoid generic, product generic) when ``value``'s uses are exactly torch-mlir's SiLU."""
    users = {use.owner.operation if hasattr(use.owner, "operation") else use.owner for use in value.uses}
    if len(users) != 2:
        return None
    sigmoid = next((u for u in users if is_sigmoid(u, value)), None)
    if sigmoid is None:
        return None
    (product,) = users - {sigmoid}
    if product.name != "linalg.generic" or len(product.operands) != 3:
        return None
    body = [o.operation.name for o in product.regions[0].blocks[0].operations]
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(product.attributes["indexing_maps"])]
    if body != ["arith.mulf", "linalg.yield"] or len({str(m) for m in maps}) != 1:
        return None
    if set(list(product.operands)[:2]) != {value, sigmoid.results[0]} or single_user(sigmoid.results[0]) != product:
        return None
    return sigmoid, product


def _replace(op: ir.Operation, value: ir.Value) -> None:
    op.results[0].replace_all_uses_with(value)
    op.erase()

