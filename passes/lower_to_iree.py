"""``lower-to-iree``: every ``sparsile.*`` kernel op becomes dense-layout IR for IREE."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dialects.formats import Format
from ..dialects.packing import pack_chunked_csr
from ..mlir import arith, ir, tensor
from ..mlir import math as math_dialect  # the MLIR dialect, not the stdlib module
from .csr_kernels import blocked_config, blocked_csr_kernel, scalar_csr_kernel
from .dispatch_markers import dispatch, module_of, unique_symbol
from .nm_kernels import pack_two_four_rows, two_four_gemv_kernel
from .ir_build import constant, elementwise, matmul, scalar, transpose
from .ir_query import walk_ops
from .kernel_ops import KernelParts, lowering_parts
from .kernel_weights import PACKED_OPERANDS, kernel_pattern
from .pass_base import Pass


@dataclass(frozen=True)
class LowerToIree(Pass):
    """Lower each sparsile kernel op to dense-layout IR that IREE compiles.

    Matches every ``sparsile.*_matmul`` op whose packed operands are constants and
    emits, per format: ``csr``, ``nm`` and ``bsr`` weights as chunked CSR consumed
    by a hand-written dispatch (K-blocked, activations feature-major; scalar at
    batch 1; see :mod:`sparsile.passes.csr_kernels`), except 2:4 at batch 1, which
    uses a select-based dispatch (:mod:`sparsile.passes.nm_kernels`); everything else
    (``channels``, ``dense`` after scheduling) as the reference lowering: the
    dense weight of the packing, transposed as the importer emits it, and a
    ``linalg.matmul``. The epilogue (scale, bias, activation, residual) follows as
    one elementwise generic. Fails on kernels whose packed operands are not
    constants. With ``reference=true`` every kernel takes the reference lowering,
    whose numerics the others must reproduce. The hand-written dispatches are CPU
    code: for other targets (``target=cuda|rocm|vulkan``) ``csr`` and ``nm`` kernels
    take the reference lowering too (and so do ``bsr`` ones).
    """

    name = "lower-to-iree"
    reference: bool = False
    target: str = "cpu"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        ok = True
        reference = self.reference or self.target != "cpu"
        for kernel in [o for o in walk_ops(op) if o.name in PACKED_OPERANDS]:
            ok &= _lower(kernel, reference)
        if not ok:
            pass_.signal_pass_failure()


def _lower(kernel: ir.Operation, reference: bool) -> bool:
    parts = lowering_parts(kernel)
    if parts is None:
        return False
    weight, x, tail = parts.weight, parts.input, parts
    fmt = kernel_pattern(kernel).format
    with ir.InsertionPoint(kernel), kernel.location:
        if not reference and _two_four_gemv_applies(kernel, weight, x):
            result = _two_four_gemv(kernel, weight, x, tail)
        elif not reference and fmt in (Format.CSR, Format.NM, Format.BSR):
            result = _csr_dispatch(kernel, weight, x, tail)
        else:
            # The importer's form (a transposed [out, in] constant): IREE compiles it best.
            acc = matmul(x, transpose(constant(weight), [1, 0]))
            result = epilogue(acc, tail.activation, tail.scale, tail.bias, tail.residual)
    kernel.results[0].replace_all_uses_with(result)
    kernel.erase()
    return True


def _csr_dispatch(kernel: ir.Operation, weight: np.ndarray, x: ir.Value, tail: KernelParts) -> ir.Value:
    """The weight as chunked CSR, multiplied by a hand-written dispatch; the epilogue around it."""
    m, k = ir.RankedTensorType(x.type).shape
    n = weight.shape[0]
    f32 = ir.F32Type.get()
    col_type = ir.IntegerType.get_signless(16 if k <= 65535 else 32)
    module = module_of(kernel)
    if m == 1:
        packed = _pad_empty(pack_chunked_csr(weight, k))
        with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
            body = scalar_csr_kernel(unique_symbol(module, "sparsile_kernel_"), n=n, k=k, nnz=len(packed["values"]), col_type=col_type)
        x1 = tensor.CollapseShapeOp(ir.RankedTensorType.get([k], f32), x, [[0, 1]]).result
        y1 = dispatch(module, body, [x1, *_operands(packed, col_type)], ir.RankedTensorType.get([n], f32))
        acc = tensor.ExpandShapeOp(ir.RankedTensorType.get([1, n], f32), y1, [[0, 1]], [], [1, n]).result
        return epilogue(acc, tail.activation, tail.scale, tail.bias, tail.residual)
    config = blocked_config(m, n, float(np.count_nonzero(weight)) / weight.size)
    blocks, mb = m // config.mb, config.mb
    packed = _pad_empty(pack_chunked_csr(weight, config.kc))
    with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
        body = blocked_csr_kernel(
            unique_symbol(module, "sparsile_kernel_"), n=n, k=k, blocks=blocks, nnz=len(packed["values"]), col_type=col_type, config=config
        )
    x3 = tensor.ExpandShapeOp(ir.RankedTensorType.get([blocks, mb, k], f32), x, [[0, 1], [2]], [], [blocks, mb, k]).result
    xt = transpose(x3, [0, 2, 1])
    yt = dispatch(module, body, [xt, *_operands(packed, col_type)], ir.RankedTensorType.get([blocks, n, mb], f32))
    # Scale, bias and activation in the kernel's [blocks, n, mb] layout, so that consecutive sparse
    # layers meet as transpose pairs the canonicalizer removes; the residual in the model's layout.
    yt = epilogue(yt, tail.activation, tail.scale, tail.bias, None, bias_dim=1)
    y3 = transpose(yt, [0, 2, 1])
    acc = tensor.CollapseShapeOp(ir.RankedTensorType.get([m, n], f32), y3, [[0, 1], [2]]).result
    return epilogue(acc, "none", 1.0, None, tail.residual)


def _two_four_gemv_applies(kernel: ir.Operation, weight: np.ndarray, x: ir.Value) -> bool:
    pattern = kernel_pattern(kernel)
    n, k = weight.shape
    batch = ir.RankedTensorType(x.type).shape[0]
    return (pattern.n, pattern.m) == (2, 4) and batch == 1 and n % 128 == 0 and k % 4 == 0


def _two_four_gemv(kernel: ir.Operation, weight: np.ndarray, x: ir.Value, tail: KernelParts) -> ir.Value:
    """Batch-1 2:4 through the select-based dispatch of :mod:`sparsile.passes.nm_kernels`."""
    n, k = weight.shape
    f32 = ir.F32Type.get()
    module = module_of(kernel)
    planes = pack_two_four_rows(weight)
    with ir.InsertionPoint.at_block_begin(module.regions[0].blocks[0]):
        body = two_four_gemv_kernel(unique_symbol(module, "sparsile_kernel_"), n=n, k=k)
    x1 = tensor.CollapseShapeOp(ir.RankedTensorType.get([k], f32), x, [[0, 1]]).result
    args = [x1, constant(planes["values"]), constant(planes["positions"])]
    y1 = dispatch(module, body, args, ir.RankedTensorType.get([n], f32))
    acc = tensor.ExpandShapeOp(ir.RankedTensorType.get([1, n], f32), y1, [[0, 1]], [], [1, n]).result
    return epilogue(acc, tail.activation, tail.scale, tail.bias, tail.residual)


def _pad_empty(packed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """An all-zero weight still gets one (never read) entry: zero-size memrefs are not bindable."""
    if len(packed["values"]):
        return packed
    return {**packed, "values": np.zeros(1, np.float32), "cols": np.zeros(1, np.int32)}


def _operands(packed: dict[str, np.ndarray], col_type: ir.Type) -> list[ir.Value]:
    cols = packed["cols"].astype(np.uint16 if ir.IntegerType(col_type).width == 16 else np.int32)
    return [constant(packed["values"]), constant(cols.view(np.int16) if cols.dtype == np.uint16 else cols), constant(packed["offsets"])]


def epilogue(
    acc: ir.Value,
    activation: str,
    scale: float,
    bias: ir.Value | None,
    residual: ir.Value | None,
    bias_dim: int = -1,
) -> ir.Value:
    """``act(acc * scale + bias) + residual`` as one elementwise generic; ``bias`` runs along ``bias_dim``."""
    if activation == "none" and scale == 1.0 and bias is None and residual is None:
        return acc
    acc_type = ir.RankedTensorType(acc.type)
    element = acc_type.element_type
    rank = acc_type.rank
    identity = ir.AffineMap.get_identity(rank)
    inputs, maps = [acc], [identity]
    if bias is not None:
        inputs.append(bias)
        maps.append(ir.AffineMap.get(rank, 0, [ir.AffineExpr.get_dim(bias_dim % rank)]))
    if residual is not None:
        inputs.append(residual)
        maps.append(identity)

    def body(args: list[ir.Value]) -> ir.Value:
        value, rest = args[0], args[1:]
        if scale != 1.0:
            value = arith.MulFOp(value, scalar(scale, element)).result
        if bias is not None:
            value = arith.AddFOp(value, rest.pop(0)).result
        value = activate(value, activation, element)
        if residual is not None:
            value = arith.AddFOp(value, rest.pop(0)).result
        return value

    return elementwise(inputs, maps, acc_type, body)


def activate(value: ir.Value, activation: str, element: ir.Type) -> ir.Value:
    """The scalar activation ``activation`` of ``value``."""
    if activation == "none":
        return value
    if activation == "relu":
        return arith.MaximumFOp(value, scalar(0.0, element)).result
    if activation == "silu":
        negated = arith.NegFOp(value).result
        denominator = arith.AddFOp(scalar(1.0, element), math_dialect.ExpOp(negated).result).result
        return arith.DivFOp(value, denominator).result
    if activation == "gelu":
        scaled = arith.MulFOp(value, scalar(1.0 / math.sqrt(2.0), element)).result
        cdf = arith.AddFOp(scalar(1.0, element), math_dialect.ErfOp(scaled).result).result
        return arith.MulFOp(arith.MulFOp(value, scalar(0.5, element)).result, cdf).result
    if activation == "gelu_tanh":
        cube = arith.MulFOp(arith.MulFOp(value, value).result, value).result
        inner = arith.AddFOp(value, arith.MulFOp(cube, scalar(0.044715, element)).result).result
        tanh = math_dialect.TanhOp(arith.MulFOp(inner, scalar(math.sqrt(2.0 / math.pi), element)).result).result
        cdf = arith.AddFOp(scalar(1.0, element), tanh).result
        return arith.MulFOp(arith.MulFOp(value, scalar(0.5, element)).result, cdf).result
    raise ValueError(f"unknown activation {activation}")
