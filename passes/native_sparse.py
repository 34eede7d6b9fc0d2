"""Sparse tensors for MLIR's sparsifier: a weight assembled from its storage, multiplied by a generic.

The ``native-cpu`` lowerings of the sparse formats read their storage operands as
the positions, coordinates and values of a ``sparse_tensor.assemble`` and multiply
with one ``linalg.generic`` the sparsifier iterates in the weight's level order.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..dialects.encodings import encoded_type
from ..dialects.patterns import Pattern
from ..mlir import arith, ir, linalg, sparse_tensor, tensor
from .ir_build import scalar


def assemble(pattern: Pattern, shape: tuple[int, int], element: ir.Type, levels: Sequence[ir.Value], values: ir.Value, index_width: int) -> ir.Value:
    """A sparse ``[out, in]`` tensor of ``pattern``'s encoding from its level arrays and values."""
    dense_type = ir.RankedTensorType.get(list(shape), element)
    sparse_type = encoded_type(dense_type, pattern, index_width=index_width)
    flat = ir.RankedTensorType(values.type)
    if flat.rank != 1:
        count = 1
        for d in flat.shape:
            count *= d
        values = tensor.CollapseShapeOp(ir.RankedTensorType.get([count], flat.element_type), values, [list(range(flat.rank))]).result
    return sparse_tensor.AssembleOp(sparse_type, list(levels), values).result


def matmul_transposed(x: ir.Value, weight: ir.Value) -> ir.Value:
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
    op = linalg.GenericOp(
        [ir.RankedTensorType.get([m, n], element)],
        [x, weight],
        [init],
        ir.ArrayAttr.get([ir.AffineMapAttr.get(mp) for mp in maps]),
        ir.ArrayAttr.get([parallel, parallel, reduction]),
    )
    weight_element = ir.RankedTensorType(weight.type).element_type
    block = op.regions[0].blocks.append(element, weight_element, element)
    with ir.InsertionPoint(block):
        a, b, acc = block.arguments
        linalg.YieldOp([arith.AddFOp(acc, arith.MulFOp(a, b).result).result])
    return op.results[0]
