"""``fold-weight-casts``: fold a weight's upcast (``arith.extf`` of a constant) into the constant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import INTENT_ATTR, NAME_ATTR, constant_array
from ..mlir import ir
from .ir_build import constant, transpose
from .ir_query import walk_ops
from .pass_base import Pass
from .weights import CONV_OPS, MATMUL_OPS, defining_op

_WIDER = {"f32": np.float32, "f64": np.float64}


@dataclass(frozen=True)
class FoldWeightCasts(Pass):
    """Fold the upcast of a low-precision weight into a constant of the wider type.

    torch's decomposition of a float16 ``Linear`` or convolution on the CPU computes in
    float32: the weight constant (or its ``linalg.transpose``) goes through an
    elementwise ``linalg.generic`` whose body is one ``arith.extf`` before the matmul.
    Matches such a generic whose every user is a matmul or convolution and whose input
    is a float16 constant, directly or transposed. Produces the constant converted
    exactly to the wider type (transposed as before), keeping its name and intent and
    recording ``sparsile.source_dtype``, so detection and the kernels see the weight as
    the matmul reads it. bfloat16 constants are left alone (the bindings cannot read
    their values).
    """

    name = "fold-weight-casts"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        for generic in [o for o in walk_ops(op) if o.name == "linalg.generic"]:
            _fold(generic)


def _fold(generic: ir.Operation) -> None:
    body = list(generic.regions[0].blocks[0].operations)
    if len(generic.operands) != 2 or len(body) != 2 or body[0].operation.name != "arith.extf":
        return
    if body[0].operands[0] != generic.regions[0].blocks[0].arguments[0] or body[1].operands[0] != body[0].results[0]:
        return
    maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(generic.attributes["indexing_maps"])]
    if any(m != ir.AffineMap.get_identity(m.n_dims) for m in maps):
        return
    users = [use.owner for use in generic.results[0].uses]
    if not users or any(u.name not in MATMUL_OPS + CONV_OPS for u in users):
        return
    wider = _WIDER.get(str(ir.RankedTensorType(generic.results[0].type).element_type))
    source = defining_op(generic.operands[0])
    permutation = None
    if source is not None and source.name == "linalg.transpose":
        permutation = list(ir.DenseI64ArrayAttr(source.attributes["permutation"]))
        source = defining_op(source.operands[0])
    if wider is None or source is None or source.name != "arith.constant":
        return
    array = constant_array(source)
    if array is None or array.dtype != np.float16:
        return
    with ir.InsertionPoint(generic), generic.location:
        folded = constant(array.astype(wider))
        for attr in (NAME_ATTR, INTENT_ATTR):
            if attr in source.attributes:
                folded.owner.attributes[attr] = source.attributes[attr]
        folded.owner.attributes["sparsile.source_dtype"] = ir.StringAttr.get("f16")
        result = folded if permutation is None else transpose(folded, permutation)
    generic.results[0].replace_all_uses_with(result)
    generic.erase()
