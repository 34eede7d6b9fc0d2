"""Small IR builders shared by the passes (constants, matmuls, elementwise generics).

Every builder inserts at the current insertion point and location (use them
inside ``with ir.InsertionPoint(...), loc:``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ml_dtypes
import numpy as np

from ..mlir import arith, ir, linalg, tensor

_NUMPY_ELEMENT = {
    np.dtype(np.float32): ir.F32Type.get,
    np.dtype(np.float16): ir.F16Type.get,
    np.dtype(ml_dtypes.bfloat16): ir.BF16Type.get,
    np.dtype(np.float64): ir.F64Type.get,
    np.dtype(np.int8): lambda: ir.IntegerType.get_signless(8),
    np.dtype(np.int16): lambda: ir.IntegerType.get_signless(16),
    np.dtype(np.int32): lambda: ir.IntegerType.get_signless(32),
    np.dtype(np.int64): lambda: ir.IntegerType.get_signless(64),
}


def constant(array: np.ndarray) -> ir.Value:
    """An ``arith.constant`` holding ``array`` (copied into the context)."""
    array = np.ascontiguousarray(array)
    element = _NUMPY_ELEMENT[array.dtype]()
    tensor_type = ir.RankedTensorType.get(list(array.shape), element)
    if array.dtype == ml_dtypes.bfloat16:  # the bindings take bfloat16 as its 16-bit patterns
        attr = ir.DenseElementsAttr.get(array.view(np.int16), type=element, shape=list(array.shape))
    else:
        attr = ir.DenseElementsAttr.get(array, type=element)
    return arith.ConstantOp(tensor_type, attr).result


def scalar(value: float, element: ir.Type) -> ir.Value:
    return arith.ConstantOp(element, value).result


def index_constant(value: int) -> ir.Value:
    """An ``index`` constant."""
    return arith.ConstantOp(ir.IndexType.get(), ir.IntegerAttr.get(ir.IndexType.get(), value)).result


def sizes_of(value: ir.Value) -> list[int | ir.Value]:
    """A tensor's sizes: static ones as ints, dynamic ones as ``tensor.dim`` values."""
    shape = ir.RankedTensorType(value.type).shape
    return [tensor.DimOp(value, index_constant(i)).result if ir.ShapedType.is_dynamic_size(d) else d for i, d in enumerate(shape)]


def zeros(shape: Sequence[int | ir.Value], element: ir.Type) -> ir.Value:
    """``linalg.fill`` of 0 into a fresh ``tensor.empty`` (float or integer elements; sizes ints or index values)."""
    empty = tensor.EmptyOp(list(shape), element).result
    fill = arith.ConstantOp(element, 0).result if isinstance(element, ir.IntegerType) else scalar(0.0, element)
    return linalg.fill(fill, outs=[empty])


def transpose(value: ir.Value, permutation: Sequence[int]) -> ir.Value:
    """``linalg.transpose`` of ``value`` into a fresh tensor."""
    source = ir.RankedTensorType(value.type)
    sizes = sizes_of(value)
    empty = tensor.EmptyOp([sizes[p] for p in permutation], source.element_type).result
    op = linalg.transpose(value, outs=[empty], permutation=list(permutation))
    return op.results[0] if hasattr(op, "results") else op


def flatten_rows(value: ir.Value) -> ir.Value:
    """``value`` ``[rows..., F]`` as ``[R, F]``, R the product of the leading sizes (``[F]`` becomes ``[1, F]``;
    dynamic when a leading size is)."""
    source = ir.RankedTensorType(value.type)
    shape = list(source.shape)
    if len(shape) == 2:
        return value
    leading = shape[:-1]
    rows = ir.ShapedType.get_dynamic_size() if any(ir.ShapedType.is_dynamic_size(d) for d in leading) else int(np.prod(leading))
    result = ir.RankedTensorType.get([rows, shape[-1]], source.element_type)
    if len(shape) == 1:
        return tensor.ExpandShapeOp(result, value, [[0, 1]], [], [1, shape[0]]).result
    return tensor.CollapseShapeOp(result, value, [list(range(len(shape) - 1)), [len(shape) - 1]]).result


def unflatten_rows(value: ir.Value, row_shape: Sequence[int], like: ir.Value | None = None) -> ir.Value:
    """``value`` ``[R, F]`` as ``[*row_shape, F]`` (the inverse of :func:`flatten_rows`).

    A dynamic size in ``row_shape`` is read off the same dimension of ``like`` (the
    tensor whose rows were flattened, with ``row_shape`` its leading dimensions).
    """
    source = ir.RankedTensorType(value.type)
    features = source.shape[1]
    if len(row_shape) == 1:
        return value
    result = ir.RankedTensorType.get([*row_shape, features], source.element_type)
    if not row_shape:
        return tensor.CollapseShapeOp(result, value, [[0, 1]]).result
    groups = [list(range(len(row_shape))), [len(row_shape)]]
    dynamic = [i for i, d in enumerate(row_shape) if ir.ShapedType.is_dynamic_size(d)]
    if dynamic and like is None:
        raise ValueError("unflatten_rows needs the tensor whose dynamic rows were flattened")
    sizes = [tensor.DimOp(like, index_constant(i)).result for i in dynamic] if like is not None else []
    return tensor.ExpandShapeOp(result, value, groups, sizes, [*row_shape, features]).result


def matmul(lhs: ir.Value, rhs: ir.Value, element: ir.Type | None = None) -> ir.Value:
    """``lhs [M, K] @ rhs [K, N]`` into a zero-filled result of ``element`` (default: ``lhs``'s; a wider
    one makes the matmul widen its operands and accumulate in it)."""
    m = sizes_of(lhs)[0]
    n = ir.RankedTensorType(rhs.type).shape[1]
    element = element or ir.RankedTensorType(lhs.type).element_type
    result = linalg.matmul(lhs, rhs, outs=[zeros([m, n], element)])
    # The Python builder leaves the indexing_maps property empty (the parser would fill it in);
    # bytecode carries properties as they are, and IREE needs them.
    d0, d1, d2 = (ir.AffineExpr.get_dim(i) for i in range(3))
    maps = [ir.AffineMap.get(3, 0, [d0, d2]), ir.AffineMap.get(3, 0, [d2, d1]), ir.AffineMap.get(3, 0, [d0, d1])]
    result.owner.attributes["indexing_maps"] = ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps])
    return result


def elementwise(
    inputs: Sequence[ir.Value],
    input_maps: Sequence[ir.AffineMap],
    result_type: ir.RankedTensorType,
    body: Callable[[list[ir.Value]], ir.Value],
) -> ir.Value:
    """An all-parallel ``linalg.generic`` over ``result_type``; ``body`` maps input scalars to the output scalar.

    A dynamic size of the result is read off the first input read with the identity map.
    """
    rank = result_type.rank
    identity = ir.AffineMap.get_identity(rank)
    shape: list[int | ir.Value] = list(result_type.shape)
    if any(ir.ShapedType.is_dynamic_size(d) for d in result_type.shape):
        like = next(v for v, m in zip(inputs, input_maps) if m == identity)
        shape = [s if not ir.ShapedType.is_dynamic_size(s) else size for s, size in zip(result_type.shape, sizes_of(like))]
    init = tensor.EmptyOp(shape, result_type.element_type).result
    op = linalg.GenericOp(
        [result_type],
        list(inputs),
        [init],
        ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in [*input_maps, identity]]),
        ir.ArrayAttr.get([ir.Attribute.parse("#linalg.iterator_type<parallel>")] * rank),
    )
    element_types = [ir.RankedTensorType(v.type).element_type for v in inputs] + [result_type.element_type]
    block = op.regions[0].blocks.append(*element_types)
    with ir.InsertionPoint(block):
        linalg.YieldOp([body(list(block.arguments)[: len(inputs)])])
    return op.results[0]
