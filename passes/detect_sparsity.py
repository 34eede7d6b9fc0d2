"""``detect-sparsity``: measure every weight's zeros and attach its sparse encoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..constants import INTENT_ATTR
from ..dialects.encodings import encoded_type
from ..dialects.patterns import Pattern, PatternKind
from ..mlir import ir, sparse_tensor
from . import sparsity_attr
from .dispatch_markers import module_of
from .linalg_convs import output_positions
from .pass_base import Pass
from .pattern_detection import check_requested, choose_pattern, describe
from .row_bounds import program_rows, value_rows
from .weight_stats import SparsityStats, measure
from .weights import WeightUse, weight_uses

_CONV_KINDS = frozenset({PatternKind.CSR, PatternKind.CHANNELS})


@dataclass(frozen=True)
class DetectSparsity(Pass):
    """Attach ``#sparse_tensor.encoding``s describing each weight's pattern.

    Matches every 2-D constant weight of a contraction (``linalg.matmul``,
    ``linalg.batch_matmul`` or a multiply-accumulate ``linalg.generic``, through
    transposes, broadcasts and unit reshapes) and every 2-D convolution's filter (NCHW,
    NHWC, grouped and depthwise, read as ``[F, C/G*KH*KW]``); the consumer's indexing
    maps say which axis of the weight is summed over,
    so ``[out, in]`` and ``[in, out]`` weights alike are read as ``[out, reduction]``.
    Measures density, N:M conformity along the reduction dimension (1:4, 2:8, 2:4, 4:8),
    block structure (4, 8, 16, 32), constant fan-in and empty output rows / input
    channels, and picks a pattern: ``channels``, ``bsr<B>``, ``N:M``, ``csr`` or
    ``dense`` (below ``min-sparsity``, or outside ``patterns``). A sparse weight is
    followed by a ``sparse_tensor.convert`` to its encoded type, which its
    consumers now use; the constant gets a ``sparsile.sparsity`` record.

    User intent wins: ``overrides`` (``name@pattern,...``, e.g. ``fc1@2:4``), a
    ``sparsile.intent`` attribute on the constant (a pattern, or ``pruned`` for
    masks folded by ``fold-weight-masks``). A requested pattern that the weight
    does not satisfy, or an override naming no weight, is an error naming the layer.
    """

    name = "detect-sparsity"
    min_sparsity: float = 0.25
    patterns: tuple[str, ...] = ("csr", "bsr", "nm", "channels")
    overrides: tuple[str, ...] = ()

    def run(self, op: ir.Operation, pass_: Any) -> None:
        uses = weight_uses(op)
        requested = self._requests(op, uses)
        if requested is None:
            pass_.signal_pass_failure()
            return
        try:
            allowed = frozenset(PatternKind(f) for f in self.patterns)
        except ValueError as err:
            op.location.emit_error(f"detect-sparsity: option patterns: {err}; expected some of csr, bsr, nm, channels")
            pass_.signal_pass_failure()
            return
        done: set[ir.Operation] = set()
        ok = True
        for use in uses:
            if use.constant in done or use.convert is not None:
                continue
            done.add(use.constant)
            ok &= self._annotate(use, requested.get(use.constant), allowed, uses, order=len(done))
        if not ok:
            pass_.signal_pass_failure()

    def _requests(self, module: ir.Operation, uses: list[WeightUse]) -> dict[ir.Operation, tuple[str, str]] | None:
        """(pattern, source) per constant from intents and overrides; None after reporting a bad override."""
        requests: dict[ir.Operation, tuple[str, str]] = {}
        for use in uses:
            if INTENT_ATTR in use.constant.attributes:
                intent = ir.StringAttr(use.constant.attributes[INTENT_ATTR]).value
                requests[use.constant] = (intent, "pruned" if intent == "pruned" else "declared")
        # A module exporting several functions holds one constant per function for each weight.
        by_name: dict[str, list[ir.Operation]] = {}
        for use in uses:
            constants = by_name.setdefault(use.name, [])
            if use.constant not in constants:
                constants.append(use.constant)
        for item in self.overrides:
            layer, _, pattern = item.partition("@")
            found = by_name.get(layer) or by_name.get(f"{layer}.weight")
            if not found:
                known = ", ".join(sorted(by_name)) or "none"
                module.location.emit_error(f"sparsity override for '{layer}' names no weight; weights: {known}")
                return None
            for constant in found:
                requests[constant] = (pattern, "override")
        return requests

    def _annotate(
        self,
        use: WeightUse,
        request: tuple[str, str] | None,
        allowed: frozenset[PatternKind],
        uses: list[WeightUse],
        order: int,
    ) -> bool:
        matrix = use.matrix()
        if matrix is None:
            return True
        stats = measure(matrix, use.channel_group)
        conv = use.kind == "conv"
        kinds = allowed & _CONV_KINDS if conv else allowed
        mask = matrix != 0
        detected = choose_pattern(mask, stats, self.min_sparsity, kinds)
        source, pattern = "detected", detected
        if request is not None and request[1] == "pruned":
            source, pattern = "pruned", choose_pattern(mask, stats, 0.0, kinds)
        elif request is not None:
            source = request[1]
            try:
                pattern = Pattern.parse(request[0])
            except ValueError as err:
                use.constant.location.emit_error(f"layer '{use.name}': {err}")
                return False
            why = check_requested(mask, pattern, use.channel_group)
            if why is None and conv and pattern.is_sparse and pattern.kind not in _CONV_KINDS:
                why = "convolution filters support csr and channels only"
            if why is not None:
                use.constant.location.emit_error(f"layer '{use.name}': requested {pattern} but {why}")
                return False
        record = weight_record(use, stats, pattern, describe(stats, detected), source)
        record["order"] = order  # program order of the weight's first use, for reports
        sparsity_attr.write(use.constant, record)
        if pattern.is_sparse:
            self._convert(use, pattern, stats.zero_rows == 0 and stats.zero_cols > 0, uses)
        return True

    def _convert(self, use: WeightUse, pattern: Pattern, input_channels: bool, uses: list[WeightUse]) -> None:
        constant = use.constant
        value = constant.results[0]
        dense_type = ir.RankedTensorType(value.type)
        target = encoded_type(dense_type, pattern, use.reduction_dim, input_channels)
        consumers = [u.first_user for u in uses if u.constant == constant]
        with ir.InsertionPoint.after(constant), constant.location:
            converted = sparse_tensor.ConvertOp(target, value).result
        for consumer in consumers:
            for i, operand in enumerate(consumer.operands):
                if operand == value:
                    consumer.operands[i] = converted


def weight_record(use: WeightUse, stats: SparsityStats, pattern: Pattern, detected: str, source: str) -> dict[str, Any]:
    """The ``sparsile.sparsity`` record of a weight: what was measured and what was chosen."""
    record: dict[str, Any] = {
        "layer": use.name,
        "pattern": str(pattern),
        "detected": detected,
        "source": source,
        "density": round(stats.density, 6),
        "zero_rows": stats.zero_rows,
        "zero_cols": stats.zero_cols,
        "out_features": stats.shape[0],
        "in_features": stats.shape[1],
        "batch_rows": _batch_rows(use),
        "reduction_dim": use.reduction_dim if use.kind == "matmul" else 1,
        "dtype": str(ir.RankedTensorType(use.constant.results[0].type).element_type),
    }
    if record["batch_rows"] < 0:  # dynamic rows: the report counts the most a call can see
        rows = value_rows(use.consumer.results[0], program_rows(module_of(use.consumer)))
        record["batch_rows"] = rows[1] if rows else 0
        if rows:
            record["rows_range"] = f"{rows[0]}..{rows[1]}"
    if stats.fanin is not None:
        record["fanin"] = stats.fanin
    return record


def _batch_rows(use: WeightUse) -> int:
    """How many input rows meet the weight per call (the rows of a contraction, N*H*W of a conv output)."""
    if use.contraction is not None:
        return use.contraction.rows
    return output_positions(use.consumer)
