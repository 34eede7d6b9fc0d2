"""``share-tied-weights``: a weight that a matmul shares with other ops is stored once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mlir import arith, ir, linalg, tensor
from .ir_query import walk_ops
from .pass_base import Pass
from .weights import WeightUse, weight_uses

_PARALLEL = "#linalg.iterator_type<parallel>"
_REDUCTION = "#linalg.iterator_type<reduction>"


@dataclass(frozen=True)
class ShareTiedWeights(Pass):
    """Keep a weight that a contraction shares with other ops out of IREE's data tiling.

    On ``cpu`` IREE data-tiles every matmul: it packs a constant weight into its tiled
    layout at compile time and stores the packed copy instead. A weight that something
    else also reads, such as a tied embedding (GPT-2's ``wte``, gathered as the token
    embedding and multiplied as the LM head), is then stored twice. Matches every
    contraction whose constant weight has another reader (constants holding the same
    values are one weight: a kernel that stayed dense repeats its weight's values);
    produces the same contraction as a ``linalg.generic`` whose reduction is split in
    two (``k -> (k1, k2)``, the activation and the constant reshaped to match), which
    IREE 3.13 does not data-tile (it packs contractions with a single reduction
    dimension) and folds back into one matmul dispatch reading the constant as it is.
    A reduction of prime length cannot be split and is left as it was. Runs last before
    the hand-off (canonicalization would fold the constant's reshape into a second
    constant); other targets do not data-tile and are left alone.
    """

    name = "share-tied-weights"
    target: str = "cpu"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        if self.target != "cpu":
            return
        uses = [u for u in weight_uses(op) if u.contraction is not None and u.contraction.problem is None]
        _merge_equal_constants(op, uses)
        readers = {use.first_user for use in uses}
        for use in uses:
            if any(_user(u) not in readers for u in use.constant.results[0].uses):
                _split_reduction(use)


def _user(use: ir.OpOperand) -> ir.Operation:
    owner = use.owner
    return owner.operation if hasattr(owner, "operation") else owner


def _merge_equal_constants(module: ir.Operation, uses: list[WeightUse]) -> None:
    """Point every weight use at the first constant of its function holding the same values.

    Functions keep their own constants (a module exporting several functions reads one
    weight in each: that is not a tie).
    """
    first: dict[tuple[ir.Operation, str, ir.Attribute], ir.Operation] = {}
    for op in walk_ops(module):
        if op.name == "arith.constant":
            first.setdefault((_function_of(op), str(op.results[0].type), op.attributes["value"]), op)
    merged: dict[ir.Operation, ir.Operation] = {}
    for use in uses:
        if use.constant in merged:
            use.constant = merged[use.constant]
            continue
        original = first[(_function_of(use.constant), str(use.constant.results[0].type), use.constant.attributes["value"])]
        if original != use.constant:
            use.constant.results[0].replace_all_uses_with(original.results[0])
            merged[use.constant] = original
            use.constant.erase()
            use.constant = original


def _function_of(op: ir.Operation) -> ir.Operation:
    """The function (or, outside any, the module) holding ``op``."""
    parent = op.parent
    while parent.name not in ("func.func", "builtin.module"):
        parent = parent.parent
    return parent


def _smallest_factor(n: int) -> int | None:
    for p in range(2, int(n**0.5) + 1):
        if n % p == 0:
            return p
    return None


def _split_reduction(use: WeightUse) -> None:
    contraction = use.contraction
    assert contraction is not None  # run() kept contractions only
    consumer = contraction.op
    red = contraction.red_dim
    length = contraction.sizes[red]
    k2 = _smallest_factor(length)
    if k2 is None:
        return
    split = len(contraction.sizes)  # the new loop dimension k2; k1 keeps k's place
    weight_axes = (red, contraction.out_dim) if contraction.reduction_dim == 0 else (contraction.out_dim, red)
    weight = use.constant.results[0]
    operands = list(consumer.operands)
    dims = list(contraction.dims)
    operands[use.operand], dims[use.operand] = weight, weight_axes
    result_type = ir.RankedTensorType(consumer.results[0].type)
    with ir.InsertionPoint(consumer), consumer.location:
        inputs = [_split_dim(v, d.index(red), length // k2, k2) for v, d in zip(operands[:2], dims[:2])]
        maps = [_map([e for d in own for e in ([d, split] if d == red else [d])], split + 1) for own in dims]
        iterators = [_REDUCTION if d == red else _PARALLEL for d in range(split)] + [_REDUCTION]
        generic = linalg.GenericOp(
            [result_type],
            inputs,
            [operands[2]],
            ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps]),
            ir.ArrayAttr.get([ir.Attribute.parse(it) for it in iterators]),
        )
        element_types = [ir.RankedTensorType(v.type).element_type for v in inputs] + [result_type.element_type]
        block = generic.regions[0].blocks.append(*element_types)
        with ir.InsertionPoint(block):
            a, b, acc = block.arguments
            linalg.YieldOp([arith.AddFOp(acc, arith.MulFOp(a, b).result).result])
    consumer.results[0].replace_all_uses_with(generic.results[0])
    consumer.erase()
    for op in reversed(use.chain):
        if not list(op.results[0].uses):
            op.erase()


def _split_dim(value: ir.Value, position: int, k1: int, k2: int) -> ir.Value:
    """``value`` with dimension ``position`` (of length ``k1 * k2``) expanded into ``[k1, k2]``."""
    source = ir.RankedTensorType(value.type)
    shape = list(source.shape)
    shape[position : position + 1] = [k1, k2]
    groups = [[d] if d < position else [d + 1] for d in range(source.rank)]
    groups[position] = [position, position + 1]
    result = ir.RankedTensorType.get(shape, source.element_type)
    return tensor.ExpandShapeOp(result, value, groups, [], shape).result


def _map(results: list[int], count: int) -> ir.AffineMap:
    return ir.AffineMap.get(count, 0, [ir.AffineExpr.get_dim(d) for d in results])
