"""``compact-structured``: pruned neurons are removed physically, across layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import constant_array
from ..dialects.patterns import CSR, DENSE, PatternKind
from ..mlir import ir
from . import sparsity_attr
from .channel_paths import shrink, trace
from .epilogue_values import activate_array
from .ir_build import constant, matmul, transpose
from .ir_query import walk_ops
from .kernel_ops import Kernel, is_kernel, rebuild, single_user
from .pass_base import Pass
from .pattern_detection import check_requested
from .weights import defining_op, trace_weight

# Activations with act(0) == 0: a removed neuron stays exactly zero through them.
_ZERO_PRESERVING = ("none", "relu", "gelu", "gelu_tanh", "silu")


@dataclass(frozen=True)
class CompactStructured(Pass):
    """Shrink ``channels`` kernels to their kept neurons and the consumer's inputs to match.

    Matches a ``sparsile.matmul`` of pattern ``channels`` whose removed output rows are
    exactly zero after its epilogue (zero bias there, an activation with act(0) = 0,
    no residual) and whose result feeds only the input of another kernel op or the
    ``[rows, in]`` input of a ``linalg.matmul`` with a constant weight (either layout). Produces a kernel that
    computes the kept rows only (``[M, kept]``, dense storage of the kept rows) and a
    consumer whose weight keeps only the matching columns; a consumer pattern that no
    longer holds after the columns are removed (N:M groups, block alignment) becomes
    ``csr``. Repeats until nothing changes, so pruning propagates through a chain of
    layers. Runs before ``schedule``, on the weights' dense storage.
    """

    name = "compact-structured"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        progress = True
        while progress:
            kernels = [k for k in walk_ops(op) if is_kernel(k) and Kernel(k).pattern.kind is PatternKind.CHANNELS]
            progress = any(_compact(kernel) for kernel in kernels)


def _compact(op: ir.Operation) -> bool:
    kernel = Kernel(op)
    if kernel.conv is not None:
        return _compact_conv(op)
    weight = kernel.dense_weight()
    if weight is None:
        return False
    out_features = kernel.out_features
    rows = np.nonzero((weight != 0).any(axis=1))[0]
    if len(rows) == out_features or len(rows) == 0:
        return False  # nothing removed (or already compacted)
    if kernel.epilogue not in _ZERO_PRESERVING or kernel.residual is not None:
        return False
    bias = None
    if kernel.bias is not None:
        producer = defining_op(kernel.bias)
        bias = constant_array(producer) if producer is not None else None
        removed = np.setdiff1d(np.arange(out_features), rows)
        if bias is None or np.any(bias[removed] != 0):
            return False
    consumer = single_user(op.results[0])
    if consumer is None or consumer.operands[0] != op.results[0]:
        return False
    if is_kernel(consumer):
        consumer_weight = Kernel(consumer).dense_weight()
    elif consumer.name == "linalg.matmul":
        consumer_weight = _dense_weight(consumer)
    else:
        return False
    if consumer_weight is None:
        return False

    m = kernel.result_type.shape[0]
    element = kernel.result_type.element_type
    with ir.InsertionPoint(op), op.location:
        changes: dict[str, Any] = {
            "fmt": "dense",
            "params": {},
            "tiles": {},
            "storage": {"values": constant(np.ascontiguousarray(weight[rows]))},
            "shape": (len(rows), kernel.in_features),
            "result_type": ir.RankedTensorType.get([m, len(rows)], element),
        }
        if bias is not None:
            changes["bias"] = constant(np.ascontiguousarray(bias[rows]))
    compact = rebuild(op, **changes)
    kept = np.zeros(out_features, bool)
    kept[rows] = True
    sparsity_attr.update(compact, compacted=f"{out_features} -> {len(rows)} outputs", kept_outputs=sparsity_attr.encode_mask(kept))
    _shrink_consumer(consumer, compact.results[0], np.ascontiguousarray(consumer_weight[:, rows]), kept)
    op.erase()
    return True


def _compact_conv(op: ir.Operation) -> bool:
    kernel = Kernel(op)
    weight = kernel.dense_weight()
    if weight is None or kernel.residual is not None or kernel.conv is None or kernel.conv.groups != 1:
        return False  # a grouped convolution's groups would keep different numbers of filters
    features = kernel.out_features
    empty = ~(weight != 0).any(axis=1)
    if not empty.any() or empty.all():
        return False
    bias = np.zeros(features, weight.dtype)
    if kernel.bias is not None:
        producer = defining_op(kernel.bias)
        array = constant_array(producer) if producer is not None else None
        if array is None:
            return False
        bias = np.asarray(array)
    # What a removed channel holds after the epilogue: act(0 * scale + bias), the same at every position.
    constants = activate_array(kernel.epilogue, bias.astype(np.float64))
    if constants is None or not np.all(np.isfinite(constants)):
        return False
    path = trace(op.results[0], features)
    if path is None or path.group == 0:
        return False
    consumer = path.consumer
    consumer_weight = Kernel(consumer).dense_weight() if is_kernel(consumer) else _dense_weight(consumer)
    if consumer_weight is None or consumer_weight.shape[1] != features * path.group:
        return False
    kept = ~empty
    merged = np.array(consumer_weight, copy=True)
    live = np.nonzero(empty & (constants != 0))[0]
    if len(live):
        first = live[0]
        kept[first] = True  # one constant channel carries them all
        columns = merged.reshape(merged.shape[0], features, path.group)
        for f in live[1:]:
            columns[:, first] += (constants[f] / constants[first] * columns[:, f]).astype(merged.dtype)
    if kept.all():
        return False  # one constant channel and nothing else removed (or already compacted)
    rows = np.nonzero(kept)[0]
    n, _, oh, ow = kernel.result_type.shape
    with ir.InsertionPoint(op), op.location:
        changes: dict[str, Any] = {
            "fmt": "dense",
            "params": {},
            "tiles": {},
            "storage": {"values": constant(np.ascontiguousarray(weight[rows]))},
            "shape": (len(rows), kernel.in_features),
            "result_type": ir.RankedTensorType.get([n, len(rows), oh, ow], kernel.result_type.element_type),
        }
        if len(live):
            changes["pattern"] = DENSE  # the kept constant channel is computed (zero filter, its bias), not scattered
        if kernel.bias is not None:
            changes["bias"] = constant(np.ascontiguousarray(bias[rows]))
    compact = rebuild(op, **changes)
    details: dict[str, Any] = {"compacted": f"{features} -> {len(rows)} outputs", "kept_outputs": sparsity_attr.encode_mask(kept)}
    if len(live) > 1:
        details["merged_constant_channels"] = len(live)
    sparsity_attr.update(compact, **details)
    columns_kept = np.repeat(kept, path.group)
    _shrink_consumer(consumer, shrink(path, compact.results[0]), np.ascontiguousarray(merged[:, columns_kept]), columns_kept)
    op.erase()
    return True


def _dense_weight(matmul_op: ir.Operation) -> np.ndarray | None:
    """The ``[out, in]`` weight of a ``matmul(x, W)`` whose first input is its ``[rows, in]`` activation, if W is constant."""
    use = trace_weight(matmul_op, 1)
    if use is None or use.contraction is None or not use.contraction.is_plain:
        return None
    weight = use.matrix()
    return None if weight is None else np.asarray(weight)


def _shrink_consumer(consumer: ir.Operation, compact_input: ir.Value, weight: np.ndarray, kept: np.ndarray) -> None:
    if consumer.name == "linalg.matmul":
        with ir.InsertionPoint(consumer), consumer.location:
            result = matmul(compact_input, transpose(constant(weight), [1, 0]))
        record = sparsity_attr.read(consumer)
        if record is not None:  # a dense layer's report row
            columns = int(record.get("in_features", len(kept)))
            sparsity_attr.write(result.owner, {**record, "compacted_inputs": f"{columns} -> {weight.shape[1]}", "kept_inputs": sparsity_attr.encode_mask(kept)})
        consumer.results[0].replace_all_uses_with(result)
        consumer.erase()
        return
    kernel = Kernel(consumer)
    pattern = kernel.pattern
    if check_requested(weight != 0, pattern) is not None:
        pattern = CSR  # e.g. N:M groups or blocks no longer aligned once columns are gone
    # The record keeps the layer's own shape; the storage's size shows what compaction saved.
    record = {**kernel.record, "compacted_inputs": f"{kernel.in_features} -> {weight.shape[1]}", "kept_inputs": sparsity_attr.encode_mask(kept)}
    with ir.InsertionPoint(consumer), consumer.location:
        storage = {"values": constant(weight)}
    rebuild(
        consumer,
        fmt="dense",
        params={},
        tiles={},
        storage=storage,
        input=compact_input,
        shape=(kernel.out_features, weight.shape[1]),
        pattern=pattern,
        record=record,
    )
    consumer.erase()
