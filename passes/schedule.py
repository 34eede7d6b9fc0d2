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
from .row_bounds import buckets
from .tuning import measure

#: A measured sparse kernel must be at least this much faster than measured dense to be kept.
TUNED_MARGIN = 0.97


@dataclass(frozen=True)
class _Candidate:
    """A format's storage of the weight and its plan at every row count the kernel is compiled for."""

    fmt: StorageFormat
    plan: Plan
    storage: dict[str, np.ndarray]
    #: Per compiled row count: (rows, the plan there, its predicted seconds as a sympy expression in M).
    buckets: tuple[tuple[int, Plan, Any], ...]

    @property
    def seconds(self) -> Any:
        """The cost expression at the largest row count (the crossover is solved on it)."""
        return self.buckets[-1][2]

    def predicted(self) -> float:
        """Predicted seconds: of a call, or summed over the row counts a dynamic kernel is compiled for."""
        return sum(at_rows(seconds, plan.rows or rows) for rows, plan, seconds in self.buckets)

    @property
    def measured(self) -> bool:
        return all(coefficients(self.fmt.name, self.fmt.kernel(plan), self.fmt.precision(self.storage, plan.params)).measured for _, plan, _ in self.buckets)

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
    requested, and then the candidate storing the fewest bytes is kept. Where dense was
    timed, a sparse kernel never timed in the weight's quantized precision is no candidate
    (the measured ones compete without it; with none left the weight stays dense, or, when
    requested, the fewest bytes are kept). A format that
    ``requires`` a target feature missing from ``features`` (or none of those it
    ``requires_one_of``) is not a candidate; a format that lowers differently per feature
    records which lowering in its params (``for_features``: bitmask's permute expand). With
    ``quantize`` (``int8``, ``int4-g128``) every candidate stores its values quantized
    (:mod:`sparsile.passes.quantization`), dense included, and formats that cannot are
    not candidates.
    The op is rebuilt with the chosen storage as its operands, the format's ``params``
    and ``tiles``; ``sparsile.sparsity`` records the format, the bytes stored, both
    predictions and the batch size where the choice would flip (or, where the weight stays
    dense, why: naming ``target-name``, the target as the user gave it, and what each
    format that holds the pattern lacks there). ``formats`` limits the
    sparse storage formats considered (``dense`` always is one). A kernel whose rows are
    dynamic (within the program's bounds, :mod:`sparsile.passes.row_bounds`) is compiled
    for several row counts over one storage: a candidate must have a plan at each, and
    its prediction is their sum; the op's ``tiles`` name the row counts (``buckets``).
    With ``tune`` (``cpu`` on the host only) every candidate, and the tile variants its
    format offers, is timed instead (:mod:`sparsile.passes.tuning`, compiled with
    ``tune-flags``): the fastest is kept when it beats dense by ``TUNED_MARGIN``, and the
    record holds both measured times.
    """

    name = "schedule"
    target: str = "cpu"
    #: The target as the user named it (``cpu:aarch64``...), for messages; the family where empty.
    target_name: str = ""
    margin: float = MARGIN
    formats: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    quantize: str = ""
    tune: bool = False
    #: The IREE flags tuned kernels are compiled with (the target's, for the host CPU).
    tune_flags: tuple[str, ...] = ()

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
        counts, bounds = [rows], (rows, rows)
        if rows < 0:  # dynamic rows: compiled for a few row counts over one storage
            found = kernel.row_range()
            if found is None:
                op.location.emit_error(
                    f"schedule: layer '{kernel.layer}' sees a dynamic number of rows without bounds; "
                    "export with dynamic_shapes whose dimensions have a max (torch.export.Dim(..., max=N))"
                )
                return False
            bounds = found
            counts = buckets(*bounds)
        considered: list[_Candidate | str | None]
        if conv is not None:
            input_shape = tuple(ir.RankedTensorType(kernel.input.type).shape)
            considered = [self._conv_candidate(fmt, pattern, weight, conv, input_shape, rows) for fmt in all_formats()]
        else:
            considered = [self._candidate(fmt, pattern, weight, counts) for fmt in all_formats()]
        candidates = [c for c in considered if isinstance(c, _Candidate)]
        # Why the formats that hold the pattern were no candidates: said where the weight stays dense for want of any.
        rejected = [c for c in considered if isinstance(c, str)]
        dense = next((c for c in candidates if c.fmt.name == "dense"), None)
        if dense is None:
            what = f"{self.quantize} " if self.quantize else ""
            op.location.emit_error(f"schedule: layer '{kernel.layer}': no storage format holds {what}weights on target '{self.target}'")
            return False
        sparse = [c for c in candidates if c.fmt.name != "dense"]
        if self.tune and self.target == "cpu" and rows > 0 and conv is None:
            return self._schedule_measured(op, kernel, weight, dense, sparse)
        record = kernel.record
        requested = record.get("source") in ("override", "declared") or pattern.kind is PatternKind.CHANNELS
        untimed = ""
        if dense.measured and any(not c.measured for c in sparse) and (any(c.measured for c in sparse) or not requested):
            # A kernel never timed in this precision cannot be compared with the others: it is no candidate.
            first = next(c for c in sparse if not c.measured)
            untimed = (f"no measured cost of {first.fmt.name} ({first.fmt.kernel(first.plan)} kernel) in "
                       f"{first.fmt.precision(first.storage, first.plan.params)} on target {self.target} (benchmarks/calibrate.py "
                       f"did not time it so); request the pattern with sparsity= to store it as {first.fmt.name}")
            sparse = [c for c in sparse if c.measured]
        predicted = dense.measured and all(c.measured for c in sparse)
        # Without measured costs the candidate storing the fewest bytes goes first.
        sparse.sort(key=(lambda c: c.predicted()) if predicted else (lambda c: c.stored_bytes))
        chosen, fallback = dense, ""
        margin = self.margin
        if sparse:
            best = sparse[0]
            error = relative_error(best.fmt.name, best.fmt.kernel(best.plan), best.fmt.precision(best.storage, best.plan.params))
            margin = min(margin, 1.0 - error)
        if sparse and (requested or (predicted and sparse[0].predicted() <= margin * dense.predicted())):
            chosen = sparse[0]
        elif untimed and not sparse:
            fallback = untimed
        elif sparse and not predicted:
            best = sparse[0]
            fallback = (f"no measured cost of {best.fmt.name} or dense on target {self.target} (benchmarks/gpu.py times them on a GPU); "
                        f"request the pattern with sparsity= to store it as {best.fmt.name}")
        elif sparse:
            best = sparse[0]
            fallback = f"predicted {best.predicted() * 1e6:.3g} us as {best.fmt.name} vs {dense.predicted() * 1e6:.3g} us dense at {_rows(bounds, counts)}"
        elif pattern.is_sparse and conv is not None:
            fallback = f"no storage format for {pattern} convolutions ({conv.describe()}) runs on target {self._target_label}"
        elif pattern.is_sparse:
            fallback = f"no storage format for {pattern} runs on target {self._target_label} at {_rows(bounds, counts)}"
            fallback += f" ({'; '.join(rejected)})" if rejected else ""
        decision: dict[str, Any] = {
            "format": chosen.fmt.name,
            "storage": chosen.fmt.describe(chosen.plan.params),
            "stored_values": chosen.fmt.stored_values(chosen.storage, chosen.plan.params),
            "stored_bytes": chosen.stored_bytes,
        }
        if predicted:
            decision["predicted_us"] = float(f"{chosen.predicted() * 1e6:.3g}")
            decision["dense_predicted_us"] = float(f"{dense.predicted() * 1e6:.3g}")
        if rows < 0:
            decision["buckets"] = ",".join(map(str, counts))
        if fallback:
            decision["fallback"] = fallback
        best_sparse = sparse[0] if sparse else None
        if best_sparse is not None and predicted and rows >= 0:
            crossover = crossover_rows(best_sparse.seconds, dense.seconds)
            if crossover is not None:
                decision["crossover_rows"] = round(crossover, 1)
        with ir.InsertionPoint(op), op.location:
            storage = {name: constant(array) for name, array in chosen.storage.items()}
        tiles = chosen.plan.tiles if rows >= 0 else {"buckets": ",".join(map(str, counts))}
        new = rebuild(op, fmt=chosen.fmt.name, storage=storage, params=chosen.plan.params, tiles=tiles)
        merged = {**record, **decision}
        if not fallback:
            merged.pop("fallback", None)  # a decision of an earlier schedule run
        if not predicted:
            for key in ("predicted_us", "dense_predicted_us", "crossover_rows"):
                merged.pop(key, None)
        sparsity_attr.write(new, merged)
        op.erase()
        return True

    def _schedule_measured(self, op: ir.Operation, kernel: Kernel, weight: np.ndarray, dense: _Candidate, sparse: list[_Candidate]) -> bool:
        """Time dense, every sparse candidate and their tile variants; keep the fastest (see the class doc)."""
        rows = kernel.rows
        timed: list[tuple[float, _Candidate]] = []
        for candidate in [dense, *sparse]:
            variants = [candidate]
            for plan in candidate.fmt.tile_variants(candidate.plan, weight, rows):
                storage = candidate.storage if plan.params == candidate.plan.params else candidate.fmt.pack(weight, plan.params)
                variants.append(_Candidate(candidate.fmt, plan, storage, ((rows, plan, candidate.fmt.seconds(storage, plan, weight.shape)),)))
            for variant in variants:
                seconds = measure(variant.fmt, variant.plan, variant.storage, shape=kernel.shape, rows=rows,
                                  pattern=str(kernel.pattern), flags=self.tune_flags)
                timed.append((seconds, variant))
        dense_seconds = min(seconds for seconds, c in timed if c.fmt.name == "dense")
        fastest_sparse = min(((s, c) for s, c in timed if c.fmt.name != "dense"), key=lambda t: t[0], default=None)
        record = kernel.record
        requested = record.get("source") in ("override", "declared") or kernel.pattern.kind is PatternKind.CHANNELS
        chosen, chosen_seconds, fallback = dense, dense_seconds, ""
        if fastest_sparse is not None and (requested or fastest_sparse[0] <= TUNED_MARGIN * dense_seconds):
            chosen_seconds, chosen = fastest_sparse
        elif fastest_sparse is not None:
            fallback = f"measured {fastest_sparse[0] * 1e6:.3g} us as {fastest_sparse[1].fmt.name} vs {dense_seconds * 1e6:.3g} us dense at {rows} rows"
        decision = {
            "format": chosen.fmt.name,
            "storage": chosen.fmt.describe(chosen.plan.params),
            "stored_values": chosen.fmt.stored_values(chosen.storage, chosen.plan.params),
            "stored_bytes": chosen.stored_bytes,
            "measured_us": float(f"{chosen_seconds * 1e6:.3g}"),
            "dense_measured_us": float(f"{dense_seconds * 1e6:.3g}"),
            "tuned_candidates": len(timed),
        }
        with ir.InsertionPoint(op), op.location:
            storage = {name: constant(array) for name, array in chosen.storage.items()}
        new = rebuild(op, fmt=chosen.fmt.name, storage=storage, params=chosen.plan.params, tiles=chosen.plan.tiles)
        merged = {k: v for k, v in {**record, **decision}.items() if k not in ("predicted_us", "dense_predicted_us", "crossover_rows")}
        if fallback:
            merged["fallback"] = fallback
        else:
            merged.pop("fallback", None)
        sparsity_attr.write(new, merged)
        op.erase()
        return True

    @property
    def _target_label(self) -> str:
        return self.target_name or self.target

    def _candidate(self, fmt: StorageFormat, pattern: Pattern, weight: np.ndarray, counts: list[int]) -> _Candidate | str | None:
        """``fmt``'s storage of ``weight`` (packed for the largest row count) and its plans at each of ``counts``;
        None where ``fmt`` does not hold ``pattern`` (or is not among ``formats``), else why it cannot store it here."""
        if not fmt.holds(pattern) or (self.formats and fmt.name not in self.formats and fmt.name != "dense"):
            return None
        if missing := fmt.missing_features(self.features):
            return f"{fmt.name} needs {missing}, which target {self._target_label} lacks"
        quant = SCHEMES[self.quantize] if self.quantize else None
        found = [fmt.plan_stored(pattern, weight, rows, self.target, quant) for rows in counts]
        unplanned = next((rows for rows, plan in zip(counts, found) if plan is None), None)
        if unplanned is not None:
            return f"{fmt.name} has no {self.target} kernel for {_count(unplanned, 'row')}"
        plans = [fmt.for_features(plan, self.features) for plan in found if plan is not None]
        main = plans[-1]
        shared: list[Plan] = []
        for rows, plan in zip(counts, plans):
            replanned = fmt.replan(plan, main.params, weight.shape)
            if replanned is None:  # the storage, packed for the largest row count, cannot run at this one
                return f"{fmt.name} has no {self.target} kernel for {_count(rows, 'row')} over storage packed for {_count(counts[-1], 'row')}"
            shared.append(replanned)
        storage = fmt.pack(weight, main.params)
        return _Candidate(fmt, main, storage, tuple((rows, plan, fmt.seconds(storage, plan, weight.shape)) for rows, plan in zip(counts, shared)))


    def _conv_candidate(self, fmt: StorageFormat, pattern: Pattern, weight: np.ndarray, conv: ConvGeometry,
                        input_shape: tuple[int, ...], rows: int) -> _Candidate | None:
        """``fmt`` storing a conv filter (never quantized: the quantized kernels are matmuls)."""
        if not fmt.holds(pattern) or (self.formats and fmt.name not in self.formats and fmt.name != "dense"):
            return None
        plan = fmt.plan_conv(pattern, weight, conv, input_shape, self.target)
        if plan is None:
            return None
        storage = fmt.pack(weight, plan.params)
        return _Candidate(fmt, plan, storage, ((rows, plan, fmt.seconds(storage, plan)),))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _rows(bounds: tuple[int, int], counts: list[int]) -> str:
    low, high = bounds
    return _count(high, "row") if low == high else f"{low}..{high} rows (compiled for {', '.join(map(str, counts))})"
