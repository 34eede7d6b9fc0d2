"""Reading a linalg op as ``out[rows..., n] += x[rows..., k] * w[n, k]``, in any operand layout.

A contraction's indexing maps say which loop dimension each operand dimension is.
Given the input that holds a 2-D weight and which of that input's dimensions carry
the weight's two axes, :func:`analyze` names the loop dimensions: ``k``, the one
the weight is summed over (the activation reads it, the result does not); ``n``,
the weight's output features (the result reads it, the activation does not); and
the row dimensions (batch, sequence...: the activation and the result read them,
the weight is broadcast along them). ``linalg.matmul`` and ``linalg.batch_matmul``
(with or without explicit ``indexing_maps``) and ``linalg.generic`` multiply-accumulate
contractions are read alike, so ``[out, in]`` and ``[in, out]`` weights, transposed
activations and broadcast weights all come out as ``[rows, k] x [n, k]^T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..mlir import ir

#: The maps of named contractions parsed or built without ``indexing_maps`` (m, n, k / b, m, n, k).
_DEFAULT_MAPS = {
    "linalg.matmul": ((0, 2), (2, 1), (0, 1)),
    "linalg.batch_matmul": ((0, 1, 3), (0, 3, 2), (0, 1, 2)),
}
CONTRACTION_OPS = (*_DEFAULT_MAPS, "linalg.generic")


@dataclass(frozen=True)
class Contraction:
    """A contraction with a 2-D weight, its loop dimensions named.

    ``problem`` says why no ``[rows, k] x [n, k]^T`` kernel computes it (None when one
    does); the reduction dimension is known either way.
    """

    op: ir.Operation
    weight_operand: int
    #: Per operand (the two inputs, then the init), the loop dimension of each of its dimensions.
    dims: tuple[tuple[int, ...], ...]
    sizes: tuple[int, ...]
    out_dim: int
    red_dim: int
    #: The weight axis (0 or 1) summed over.
    reduction_dim: int
    problem: str | None

    @property
    def activation(self) -> ir.Value:
        return self.op.operands[1 - self.weight_operand]

    @property
    def init(self) -> ir.Value:
        return self.op.operands[2]

    @property
    def row_dims(self) -> tuple[int, ...]:
        """The loop dimensions of the rows, in the order the result holds them."""
        return tuple(d for d in self.dims[2] if d != self.out_dim)

    @property
    def row_shape(self) -> list[int]:
        return [self.sizes[d] for d in self.row_dims]

    @property
    def rows(self) -> int:
        """Input rows per call: the product of the row dimensions (-1 when one is dynamic)."""
        shape = self.row_shape
        return -1 if any(ir.ShapedType.is_dynamic_size(d) for d in shape) else math.prod(shape)

    @property
    def activation_permutation(self) -> list[int]:
        """The ``linalg.transpose`` permutation that takes the activation to ``[rows..., k]``."""
        own = self.dims[1 - self.weight_operand]
        return [own.index(d) for d in (*self.row_dims, self.red_dim)]

    @property
    def result_permutation(self) -> list[int]:
        """The permutation that takes ``[rows..., n]`` to the result's own order."""
        kernel_order = (*self.row_dims, self.out_dim)
        return [kernel_order.index(d) for d in self.dims[2]]

    @property
    def is_plain(self) -> bool:
        """Whether it already is ``x[m, k] * w -> [m, n]`` with ``x`` its first input (no reshape, no transpose)."""
        identity = list(range(len(self.row_dims) + 1))
        return (
            self.problem is None
            and self.weight_operand == 1
            and len(self.row_dims) == 1
            and self.activation_permutation == identity
            and self.result_permutation == identity
        )


def analyze(op: ir.Operation, weight_operand: int, weight_axes: tuple[int, int]) -> Contraction | None:
    """``op`` as a contraction whose input ``weight_operand`` holds a weight along ``weight_axes``.

    ``weight_axes`` are the dimensions of that input holding the weight's axes 0 and 1
    (the input may be the weight broadcast or reshaped). None when ``op`` is not a
    multiply-accumulate contraction that sums over exactly one of the weight's axes
    and keeps the other in its result.
    """
    dims = _operand_dims(op)
    if dims is None or len(dims) != 3 or not _is_multiply_accumulate(op):
        return None
    sizes = _loop_sizes(op, dims)
    if sizes is None:
        return None
    reductions = _reduction_dims(op, dims)
    weight_dims = dims[weight_operand]
    a, b = weight_dims[weight_axes[0]], weight_dims[weight_axes[1]]
    result = set(dims[2])
    if a in reductions and b in result:
        red_dim, out_dim, reduction_dim = a, b, 0
    elif b in reductions and a in result:
        red_dim, out_dim, reduction_dim = b, a, 1
    else:
        return None
    if ir.ShapedType.is_dynamic_size(sizes[red_dim]) or ir.ShapedType.is_dynamic_size(sizes[out_dim]):
        return None  # a weight has static sizes; only the rows may be dynamic
    activation = dims[1 - weight_operand]
    rows = result - {out_dim}
    problem = None
    if set(reductions) != {red_dim}:
        problem = "the contraction also sums over dimensions the weight does not have"
    elif out_dim in activation or red_dim not in activation:
        problem = "the activation does not read the weight's input features alone"
    elif set(activation) != rows | {red_dim}:
        problem = "the result has dimensions the activation does not (a broadcast activation)"
    return Contraction(op, weight_operand, dims, sizes, out_dim, red_dim, reduction_dim, problem)


def _operand_dims(op: ir.Operation) -> tuple[tuple[int, ...], ...] | None:
    """The loop dimension of every operand dimension, when every map is a projected permutation."""
    if op.name not in CONTRACTION_OPS:
        return None
    attr = op.attributes["indexing_maps"] if "indexing_maps" in op.attributes else None
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(attr)] if attr is not None else []
    if not maps:
        # The Python builders of named ops leave the property empty: their defaults apply.
        return _DEFAULT_MAPS.get(op.name)
    dims = []
    for m in maps:
        positions = []
        for expr in m.results:
            if not isinstance(expr, ir.AffineDimExpr):
                return None
            positions.append(expr.position)
        if len(set(positions)) != len(positions):
            return None
        dims.append(tuple(positions))
    return tuple(dims)


def _loop_sizes(op: ir.Operation, dims: tuple[tuple[int, ...], ...]) -> tuple[int, ...] | None:
    sizes: dict[int, int] = {}
    for value, own in zip(op.operands, dims):
        if not isinstance(value.type, ir.RankedTensorType):
            return None
        for size, d in zip(ir.RankedTensorType(value.type).shape, own):
            if sizes.setdefault(d, size) != size:
                return None
    count = max(sizes) + 1 if sizes else 0
    if sorted(sizes) != list(range(count)):
        return None  # a loop dimension no operand reads
    return tuple(sizes[d] for d in range(count))


def _reduction_dims(op: ir.Operation, dims: tuple[tuple[int, ...], ...]) -> list[int]:
    if op.name == "linalg.generic":
        iterators = [str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
        return [d for d, it in enumerate(iterators) if "reduction" in it]
    count = 1 + max(d for own in dims for d in own)
    return [d for d in range(count) if d not in dims[2]]


def _is_multiply_accumulate(op: ir.Operation) -> bool:
    """Whether ``op`` has two inputs and one init and computes ``init + in0 * in1`` per point."""
    if len(op.operands) != 3 or len(op.results) != 1:
        return False
    if op.name != "linalg.generic":
        return True  # named contractions are multiply-accumulate by definition
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if [o.name for o in body] != ["arith.mulf", "arith.addf", "linalg.yield"]:
        return False
    mul, add, done = body
    args = list(block.arguments)
    if set(mul.operands) != {args[0], args[1]}:
        return False
    return set(add.operands) == {mul.results[0], args[2]} and done.operands[0] == add.results[0]
