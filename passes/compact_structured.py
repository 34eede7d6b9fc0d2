"""``compact-structured``: pruned neurons are removed physically, across layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import constant_array
from ..dialects.formats import CSR
from ..mlir import ir
from . import sparsity_attr
from .form_kernels import make_kernel
from .ir_build import constant, matmul, transpose
from .ir_query import walk_ops
from .kernel_ops import fields, is_kernel, rebuild, single_user
from .kernel_weights import int_attr, kernel_pattern, packed_arrays, kernel_weight
from .pass_base import Pass
from .pattern_detection import check_requested
from .weights import defining_op

# Activations with act(0) == 0: a removed neuron stays exactly zero through them.
_ZERO_PRESERVING = ("none", "relu", "gelu", "gelu_tanh", "silu")


@dataclass(frozen=True)
class CompactStructured(Pass):
    """Shrink ``channel_matmul`` outputs to the kept neurons and the consumer's inputs to match.

    Matches a ``sparsile.channel_matmul`` whose removed output rows are exactly zero
    after its epilogue (zero bias there, an activation with act(0) = 0, no
    residual) and whose result feeds only the input of another kernel op or of a
    ``linalg.matmul`` with a constant (transposed) weight. Produces a kernel that
    computes the kept rows only (``[M, kept]``) and a consumer whose weight keeps
    only the matching columns; a consumer packing that no longer holds after the
    columns are removed (N:M groups, block alignment) is re-packed as CSR. Repeats
    until nothing changes, so pruning propagates through a chain of layers.
    """

    name = "compact-structured"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        progress = True
        while progress:
            progress = any(_compact(kernel) for kernel in list(walk_ops(op)) if kernel.name == "sparsile.channel_matmul")


def _compact(kernel: ir.Operation) -> bool:
    packed = packed_arrays(kernel)
    if packed is None:
        return False
    rows = packed["rows"].astype(np.int64)
    out_features = int_attr(kernel, "out_features")
    if len(rows) == out_features:
        return False  # nothing removed (or already compacted)
    state = fields(kernel)
    if ir.StringAttr(state["epilogue"]).value not in _ZERO_PRESERVING or state["residual"] is not None:
        return False
    bias = None
    if state["bias"] is not None:
        producer = defining_op(state["bias"])
        bias = constant_array(producer) if producer is not None else None
        removed = np.setdiff1d(np.arange(out_features), rows)
        if bias is None or np.any(bias[removed] != 0):
            return False
    consumer = single_user(kernel.results[0])
    if consumer is None or consumer.operands[0] != kernel.results[0]:
        return False
    if is_kernel(consumer):
        weight = kernel_weight(consumer)
    elif consumer.name == "linalg.matmul":
        weight = _dense_weight(consumer)
    else:
        return False
    if weight is None:
        return False

    m = ir.RankedTensorType(kernel.results[0].type).shape[0]
    element = ir.RankedTensorType(kernel.results[0].type).element_type
    with ir.InsertionPoint(kernel), kernel.location:
        changes: dict[str, Any] = {
            "rows": constant(np.arange(len(rows), dtype=np.int32)),
            "out_features": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), len(rows)),
            "out": ir.RankedTensorType.get([m, len(rows)], element),
        }
        if bias is not None:
            changes["bias"] = constant(np.ascontiguousarray(bias[rows]))
    compact = rebuild(kernel, **changes)
    sparsity_attr.update(compact, compacted=f"{out_features} -> {len(rows)} outputs")
    _shrink_consumer(consumer, compact.results[0], np.ascontiguousarray(weight[:, rows]))
    kernel.erase()
    return True


def _dense_weight(matmul_op: ir.Operation) -> np.ndarray | None:
    """The ``[out, in]`` weight of the importer's ``matmul(x, transpose(W))``, if W is constant."""
    transposed = defining_op(matmul_op.operands[1])
    if transposed is None or transposed.name != "linalg.transpose":
        return None
    producer = defining_op(transposed.operands[0])
    array = constant_array(producer) if producer is not None else None
    return None if array is None or array.ndim != 2 else np.asarray(array)


def _shrink_consumer(consumer: ir.Operation, compact_input: ir.Value, weight: np.ndarray) -> None:
    with ir.InsertionPoint(consumer), consumer.location:
        if consumer.name == "linalg.matmul":
            result = matmul(compact_input, transpose(constant(weight), [1, 0]))
            consumer.results[0].replace_all_uses_with(result)
            consumer.erase()
            return
        pattern = kernel_pattern(consumer)
        if check_requested(weight != 0, pattern) is not None:
            pattern = CSR  # e.g. N:M groups or blocks no longer aligned once columns are gone
        state = fields(consumer)
        record = sparsity_attr.read(consumer) or {}
        # The record keeps the layer's own shape; the packing's size shows what compaction saved.
        record = {**record, "compacted_inputs": f"{int_attr(consumer, 'in_features')} -> {weight.shape[1]}"}
        epilogue = {k: state[k] for k in ("epilogue", "scale", "bias", "residual") if state[k] is not None}
        kernel = make_kernel(pattern, weight, compact_input, consumer.results[0].type, record, **epilogue)
    consumer.results[0].replace_all_uses_with(kernel.results[0])
    consumer.erase()

