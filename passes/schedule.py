"""``schedule``: choose each kernel's storage format and tiles for the target, and write them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dialects.patterns import Pattern, PatternKind
from ..mlir import ir
from . import sparsity_attr
from .conv_geometry import ConvGeometry
from .cost_model import MARGIN, at_rows, coefficients, crossover_rows, relative_error
from .formats import all_formats
from .formats.base import TARGET_FAMILIES, Plan, StorageFormat
from .ir_build import constant
from .ir_query import walk_ops
from .kernel_ops import Kernel, is_kernel, rebuild
from .pass_base import Pass
from .quantization import SCHEMES


@dataclass(frozen=True)
class _Candidate:
    fmt: StorageFormat
    plan: Plan
    storage: dict[str, np.ndarray]
    seconds: Any  # sympy expression in M

    def at(self, rows: int) -> float:
        return at_rows(self.seconds, self.plan.rows or rows)

    @property
    def measured(self) -> bool:
        return coefficients(self.fmt.name, self.fmt.kernel(self.plan)).measured

    @property
    def stored_bytes(self) -> int:
        return int(sum(a.nbytes for a in self.storage.values()))


@dataclass(frozen=True)
class Schedule(Pass):
    """Choose, per kernel op, how its weight is stored and tiled on ``target``, and pack it.

    Matches every ``sparsile.matmul`` and ``sparsile.conv``. The candidates are the storage
    formats that hold the kernel's pattern and have a plan for the target family (``cpu``,
    ``gpu``, ``vulkan``, ``native``) at the op's input rows (for a convolution: a conv plan
    for its input and window, never quantized); each is packed and its time
    predicted with the format's cost (:mod:`sparsile.passes.cost_model`). The fastest
    sparse candidate is kept when it is predicted at least ``margin`` x faster than
    ``dense`` storage (tightened to ``1 - e`` when its kernel's fit has a median relative
    error ``e`` above ``1 - margin``: a prediction is trusted only as far as it was
    measured), or whatever the prediction when the user asked for the pattern
    (``sparsity=`` overrides, torch sparse layouts) or it is ``channels`` (dense
    compute on the kept neurons); otherwise the weight stays dense and the reason is recorded.
    Where a candidate's kernel was never timed on such a target (``unmeasured`` in the
    cost model) nothing is predicted: the weight stays dense unless its pattern was
    requested, and then the candidate storing the fewest bytes is kept. A format that
    ``requires`` a target feature missing from ``features`` is not a candidate. With
    ``quantize`` (``int8``, ``int4-g128``) every candidate stores its values quantized
    (:mod:`sparsile.passes.quantization`), dense included, and formats that cannot are
    not candidates.
    The op is rebuilt with the chosen storage as its operands, the format's ``params``
    and ``tiles``; ``sparsile.sparsity`` records the format, the bytes stored, both
    predictions and the batch size where the choice would flip. ``formats`` limits the
    sparse storage formats considered (``dense`` always is one).
    """

    name = "schedule"
    target: str = "cpu"
    margin: float = MARGIN
    formats: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    quantize: str = ""

    def run(self, op: ir.Operation, pass_: Any) -> None:
        if self.quantize and self.quantize not in SCHEMES:
            op.location.emit_error(f"schedule: unknown quantization '{self.quantize}'; expected one of {', '.join(SCHEMES)}")
            pass_.signal_pass_failure()
            return
        if self.target not in TARGET_FAMILIES:
            op.location.emit_error(f"schedule: unknown target family '{self.target}'; expected one of {', '.join(TARGET_FAMILIES)}")
            pass_.signal_pass_failure()
            return
        unknown = sorted(set(self.formats) - {f.name for f in all_formats()})
        if unknown:
            op.location.emit_error(f"schedule: unknown storage format(s) {', '.join(unknown)}; formats: {', '.join(f.name for f in all_formats())}")
            pass_.signal_pass_failure()
            return
        ok = True
        for kernel in [o for o in walk_ops(op) if is_kernel(o)]:
            ok &= self._schedule(kernel)
        if not ok:
            pass_.signal_pass_failure()

    def _schedule(self, op: ir.Operation) -> bool:
        kernel = Kernel(op)
        weight = kernel.dense_weight()
        if weight is None:
            op.location.emit_error(f"schedule: the storage of layer '{kernel.layer}' is not constant")
            return False
        if self.target == "native" and weight.dtype != np.float32:
            # MLIR's sparsifier multiplies one element type: the native kernels hold float32 values.
            weight = weight.astype(np.float32)
        pattern, rows = kernel.pattern, kernel.rows
        conv = kernel.conv
        if conv is not None:
            input_shape = tuple(ir.RankedTensorType(kernel.input.type).shape)
            found = (self._conv_candidate(fmt, pattern, weight, conv, input_shape) for fmt in all_formats())
        else:
            found = (self._candidate(fmt, pattern, weight, rows) for fmt in all_formats())
        candidates = [c for c in found if c is not None]
        dense = next(c for c in candidates if c.fmt.name == "dense")
        sparse = [c for c in candidates if c.fmt.name != "dense"]
        predicted = dense.measured and all(c.measured for c in sparse)
        # Without measured costs the candidate storing the fewest bytes goes first.
        sparse.sort(key=(lambda c: c.at(rows)) if predicted else (lambda c: c.stored_bytes))
        record = kernel.record
        requested = record.get("source") in ("override", "declared") or pattern.kind is PatternKind.CHANNELS
        chosen, fallback = dense, ""
        margin = min(self.margin, 1.0 - relative_error(sparse[0].fmt.name, sparse[0].fmt.kernel(sparse[0].plan))) if sparse else self.margin
        if sparse and (requested or (predicted and sparse[0].at(rows) <= margin * dense.at(rows))):
            chosen = sparse[0]
        elif sparse and not predicted:
            best = sparse[0]
            fallback = (f"no measured cost of {best.fmt.name} or dense on target {self.target} (benchmarks/gpu.py times them on a GPU); "
                        f"request the pattern with sparsity= to store it as {best.fmt.name}")
        elif sparse:
            best = sparse[0]
            fallback = f"predicted {best.at(rows) * 1e6:.3g} us as {best.fmt.name} vs {dense.at(rows) * 1e6:.3g} us dense at {rows} rows"
        elif pattern.is_sparse and conv is not None:
            fallback = f"no storage format for {pattern} convolutions ({conv.describe()}) runs on target {self.target}"
        elif pattern.is_sparse:
            fallback = f"no storage format for {pattern} runs on target {self.target} at {rows} rows"
        decision: dict[str, Any] = {
            "format": chosen.fmt.name,
            "storage": chosen.fmt.describe(chosen.plan.params),
            "stored_values": chosen.fmt.stored_values(chosen.storage, chosen.plan.params),
            "stored_bytes": chosen.stored_bytes,
        }
        if predicted:
            decision["predicted_us"] = float(f"{chosen.at(rows) * 1e6:.3g}")
            decision["dense_predicted_us"] = float(f"{dense.at(rows) * 1e6:.3g}")
        if fallback:
            decision["fallback"] = fallback
        best_sparse = sparse[0] if sparse else None
        if best_sparse is not None and predicted:
            crossover = crossover_rows(best_sparse.seconds, dense.seconds)
            if crossover is not None:
                decision["crossover_rows"] = round(crossover, 1)
        with ir.InsertionPoint(op), op.location:
            storage = {name: constant(array) for name, array in chosen.storage.items()}
        new = rebuild(op, fmt=chosen.fmt.name, storage=storage, params=chosen.plan.params, tiles=chosen.plan.tiles)
        merged = {**record, **decision}
        if not fallback:
            merged.pop("fallback", None)  # a decision of an earlier schedule run
        if not predicted:
            for key in ("predicted_us", "dense_predicted_us", "crossover_rows"):
                merged.pop(key, None)
        sparsity_attr.write(new, merged)
        op.erase()
        return True

    def _candidate(self, fmt: StorageFormat, pattern: Pattern, weight: np.ndarray, rows: int) -> _Candidate | None:
        if not fmt.holds(pattern) or (self.formats and fmt.name not in self.formats and fmt.name != "dense"):
            return None
        if not fmt.requires <= set(self.features):
            return None
        plan = fmt.plan(pattern, weight, rows, self.target)
        if plan is not None and self.quantize:
            plan = fmt.quantized_plan(plan, SCHEMES[self.quantize], weight.shape, rows, self.target)
        if plan is None:
            return None
        storage = fmt.pack(weight, plan.params)
        return _Candidate(fmt, plan, storage, fmt.seconds(storage, plan))

    def _conv_candidate(self, fmt: StorageFormat, pattern: Pattern, weight: np.ndarray, conv: ConvGeometry,
                        input_shape: tuple[int, ...]) -> _Candidate | None:
        """``fmt`` storing a conv filter (never quantized: the quantized kernels are matmuls)."""
        if not fmt.holds(pattern) or (self.formats and fmt.name not in self.formats and fmt.name != "dense"):
            return None
        plan = fmt.plan_conv(pattern, weight, conv, input_shape, self.target)
        if plan is None:
            return None
        storage = fmt.pack(weight, plan.params)
        return _Candidate(fmt, plan, storage, fmt.seconds(storage, plan))

