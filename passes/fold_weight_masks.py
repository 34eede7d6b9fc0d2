"""``fold-weight-masks``: fold ``weight_orig * weight_mask`` into one pruned weight constant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import INTENT_ATTR, NAME_ATTR, constant_array, weight_name
from ..mlir import ir
from .ir_build import constant
from .ir_query import walk_ops
from .pass_base import Pass
from .weights import defining_op


@dataclass(frozen=True)
class FoldWeightMasks(Pass):
    """Fold pruning masks into their weights, keeping the user's intent.

    Matches an all-parallel ``linalg.generic`` multiplying two constants where one
    holds only 0s and 1s (``torch.nn.utils.prune`` exports ``weight_orig *
    weight_mask`` this way). Produces one constant with the product, named after
    the weight (``fc1.weight``) and marked ``sparsile.intent = "pruned"`` so
    ``detect-sparsity`` treats it as sparse whatever its sparsity. Other
    generics are left alone.
    """

    name = "fold-weight-masks"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        for generic in [o for o in walk_ops(op) if o.name == "linalg.generic"]:
            self._fold(generic)

    def _fold(self, generic: ir.Operation) -> None:
        body = list(generic.regions[0].blocks[0].operations)
        if len(generic.operands) != 3 or len(body) != 2 or body[0].operation.name != "arith.mulf":
            return
        maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(generic.attributes["indexing_maps"])]
        if any(m != ir.AffineMap.get_identity(m.n_dims) for m in maps):
            return
        found = [defining_op(v) for v in list(generic.operands)[:2]]
        producers = [p for p in found if p is not None and p.name == "arith.constant"]
        if len(producers) != 2:
            return
        maybe = [constant_array(p) for p in producers]
        arrays = [a for a in maybe if a is not None]
        if len(arrays) != 2:
            return
        masks = [i for i, a in enumerate(arrays) if np.isin(a, (0, 1)).all()]
        if not masks:
            return
        weight_index = 1 - masks[-1]
        product = (arrays[0] * arrays[1]).astype(arrays[weight_index].dtype)
        name = weight_name(producers[weight_index]) or "weight"
        with ir.InsertionPoint(generic), generic.location:
            folded = constant(product)
            folded.owner.attributes[NAME_ATTR] = ir.StringAttr.get(name.removesuffix("_orig"))
            folded.owner.attributes[INTENT_ATTR] = ir.StringAttr.get("pruned")
        generic.results[0].replace_all_uses_with(folded)
        generic.erase()
        for producer in producers:
            if not list(producer.results[0].uses):
                producer.erase()
