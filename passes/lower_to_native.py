"""``lower-to-native``: ``sparsile.*`` kernels become sparse linalg for MLIR's sparsifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..dialects.encodings import encoded_type
from ..dialects.formats import CSR, Format
from ..mlir import arith, ir, linalg, sparse_tensor, tensor
from ..dialects.packing import pack
from .ir_build import constant, scalar
from .ir_query import entry_candidates, walk_ops
from .kernel_ops import lowering_parts
from .kernel_weights import PACKED_OPERANDS, kernel_pattern
from .lower_to_iree import epilogue
from .pass_base import Pass

C_INTERFACE = "llvm.emit_c_interface"


@dataclass(frozen=True)
class LowerToNative(Pass):
    """Lower each sparsile kernel op to a sparse ``linalg.generic`` the sparsifier compiles.

    Matches every ``sparsile.*_matmul`` with constant packed operands. Produces the
    weight as a sparse tensor (BSR for ``bsr``, CSR for the others: the sparsifier
    cannot compute with ``structured[n, m]`` levels on the CPU) assembled from
    packed constants with ``sparse_tensor.assemble``, a ``linalg.generic`` computing
    ``x[m, k] * W[n, k]`` over the sparse weight, and the epilogue generic shared
    with ``lower-to-iree``. It also marks the public functions with
    ``llvm.emit_c_interface`` so the ExecutionEngine can call them. Fails on kernel
    ops whose packing is not constant.
    """

    name = "lower-to-native"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        ok = True
        for kernel in [o for o in walk_ops(op) if o.name in PACKED_OPERANDS]:
            ok &= _lower(kernel)
        for func_op in entry_candidates(op):
            func_op.attributes[C_INTERFACE] = ir.UnitAttr.get()
        if not ok:
            pass_.signal_pass_failure()


def _lower(kernel: ir.Operation) -> bool:
    parts = lowering_parts(kernel)
    if parts is None:
        return False
    weight, x = parts.weight, parts.input
    pattern = kernel_pattern(kernel)
    # structured[n, m] levels do not lower on the CPU path of this MLIR (the sparsifier leaves
    # their storage specifier unresolved), so N:M weights are computed from CSR storage.
    storage = CSR if pattern.format in (Format.CHANNELS, Format.NM) else pattern
    packed = pack(weight, storage)
    names = ("block_row_offsets", "block_cols") if storage.format is Format.BSR else ("row_offsets", "col_indices")
    with ir.InsertionPoint(kernel), kernel.location:
        element = ir.RankedTensorType(x.type).element_type
        dense_type = ir.RankedTensorType.get(list(weight.shape), element)
        sparse_type = _with_32bit_indices(encoded_type(dense_type, storage))
        levels = [constant(packed[name]) for name in names]
        values = constant(packed["values"].reshape(-1))
        sparse = sparse_tensor.AssembleOp(sparse_type, levels, values).result
        acc = _matmul_transposed(x, sparse)
        result = epilogue(acc, parts.activation, parts.scale, parts.bias, parts.residual)
    kernel.results[0].replace_all_uses_with(result)
    kernel.erase()
    return True


def _with_32bit_indices(tensor_type: ir.RankedTensorType) -> ir.RankedTensorType:
    """The same encoding with 32-bit positions and coordinates (the packings are i32)."""
    text = str(tensor_type.encoding).replace("}>", ", posWidth = 32, crdWidth = 32 }>")
    return ir.RankedTensorType.get(tensor_type.shape, tensor_type.element_type, ir.Attribute.parse(text))


def _matmul_transposed(x: ir.Value, weight: ir.Value) -> ir.Value:
    """``y[m, n] = sum_k x[m, k] * W[n, k]`` as a generic the sparsifier iterates in W's level order."""
    m = ir.RankedTensorType(x.type).shape[0]
    n = ir.RankedTensorType(weight.type).shape[0]
    element = ir.RankedTensorType(x.type).element_type
    empty = tensor.EmptyOp([m, n], element).result
    init = linalg.fill(scalar(0.0, element), outs=[empty])
    d0, d1, d2 = (ir.AffineExpr.get_dim(i) for i in range(3))
    maps = [ir.AffineMap.get(3, 0, [d0, d2]), ir.AffineMap.get(3, 0, [d1, d2]), ir.AffineMap.get(3, 0, [d0, d1])]
    parallel = ir.Attribute.parse("#linalg.iterator_type<parallel>")
    reduction = ir.Attribute.parse("#linalg.iterator_type<reduction>")
    result_type = ir.RankedTensorType.get([m, n], element)
    op = linalg.GenericOp(
        [result_type],
        [x, weight],
        [init],
        ir.ArrayAttr.get([ir.AffineMapAttr.get(mp) for mp in maps]),
        ir.ArrayAttr.get([parallel, parallel, reduction]),
    )
    weight_element = ir.RankedTensorType(weight.type).element_type
    block = op.regions[0].blocks.append(element, weight_element, element)
    with ir.InsertionPoint(block):
        a, b, acc = block.arguments
        product = arith.MulFOp(a, b).result
        linalg.YieldOp([arith.AddFOp(acc, product).result])
    return op.results[0]

