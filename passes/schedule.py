"""``schedule``: per kernel, keep the sparse format only where the cost model predicts a win."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dialects.formats import CHANNELS, Format
from ..mlir import ir
from . import sparsity_attr
from .cost_model import M, MARGIN, crossover_rows, seconds_expr
from .form_kernels import make_kernel
from .ir_query import walk_ops
from .kernel_ops import fields, is_kernel
from .kernel_weights import int_attr, kernel_pattern, kernel_weight
from .pass_base import Pass


@dataclass(frozen=True)
class Schedule(Pass):
    """Choose, per kernel op, between its sparse format and dense, by predicted time.

    Matches every ``sparsile.*_matmul``. Predicts its time at the op's batch rows
    with :mod:`sparsile.passes.cost_model` for its format and for a dense matmul of
    the same weight; a sparse format predicted no faster than ``margin`` x dense is
    replaced by a dense kernel (a ``channel_matmul`` keeping every row and column,
    lowered as an ordinary matmul with the fused epilogue). ``channels`` kernels are
    kept: they are dense compute on the kept neurons, and so are formats the user
    asked for (``sparsity=`` overrides, torch sparse layouts). Records the predicted times,
    the decision and the batch size where the choice would flip in ``sparsile.sparsity``.
    """

    name = "schedule"
    margin: float = MARGIN

    def run(self, op: ir.Operation, pass_: Any) -> None:
        for kernel in [o for o in walk_ops(op) if is_kernel(o)]:
            self._schedule(kernel)

    def _schedule(self, kernel: ir.Operation) -> None:
        pattern = kernel_pattern(kernel)
        record = sparsity_attr.read(kernel) or {}
        rows = int(np.prod(ir.RankedTensorType(kernel.operands[0].type).shape[:-1]))
        dense_values = int_attr(kernel, "out_features") * int_attr(kernel, "in_features")
        stored = int(record.get("stored_values", dense_values))
        sparse_s = float(seconds_expr(pattern.format, stored).subs(M, rows))
        dense_s = float(seconds_expr(Format.DENSE, dense_values).subs(M, rows))
        crossover = crossover_rows(pattern.format, stored, dense_values)
        decision = {
            "predicted_us": float(f"{sparse_s * 1e6:.3g}"),
            "dense_predicted_us": float(f"{dense_s * 1e6:.3g}"),
        }
        if crossover is not None:
            decision["crossover_rows"] = round(crossover, 1)
        requested = record.get("source") in ("override", "declared")
        if pattern.format is Format.CHANNELS or requested or sparse_s <= self.margin * dense_s:
            sparsity_attr.update(kernel, **decision)
            return
        weight = kernel_weight(kernel)
        if weight is None:
            return
        state = fields(kernel)
        epilogue = {k: state[k] for k in ("epilogue", "scale", "bias", "residual") if state[k] is not None}
        reason = f"predicted {sparse_s * 1e6:.3g} us as {pattern} vs {dense_s * 1e6:.3g} us dense at {rows} rows"
        with ir.InsertionPoint(kernel), kernel.location:
            dense = make_kernel(CHANNELS, np.asarray(weight), kernel.operands[0], kernel.results[0].type, record, **epilogue)
        decision["predicted_us"] = decision["dense_predicted_us"]
        sparsity_attr.update(dense, **decision, format="dense", fallback=reason)
        kernel.results[0].replace_all_uses_with(dense.results[0])
        kernel.erase()
