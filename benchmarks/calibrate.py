"""Fit the cost model's coefficients to kernels timed on this machine.

    python benchmarks/calibrate.py [--quick] [-o passes/cost_models/<isa>.json]

For every storage format and kernel that runs on the ``cpu`` target it compiles single
pruned ``Linear`` layers (several shapes, densities, row counts and weight dtypes), and
single ``Conv2d`` layers of a ResNet's shapes for the convolution kernels (``M``: the
output positions), with the storage forced to that format, times them, subtracts what the call itself costs (a
compiled ``x * 2`` with the same input: a model pays it once, not per layer), and fits
``fixed + bytes * per_byte + stored * (per_value + per_row * M)`` (plus ``stored * per_block
* blocks`` for the K-blocked CSR kernel, which streams the weight once per activation
block) by least squares of the relative error (``bytes``: the size of the storage;
``stored``: the values the kernel streams; ``M``: the rows it computes, padding
included). Few-row kernels are also timed on a layer larger than the last-level cache,
where the bytes decide. The result is the JSON file the cost model loads
(``sparsile.passes.cost_model``), with the machine and the measurements it came from:
by default the checked-in fit of this host's vector instruction set,
``passes/cost_models/<isa>.json`` (``avx512``, ``avx2``), which compiles on hosts of that
set use.
Kernels that do not run on this target (``native-cpu``'s) take the coefficients of the
closest measured kernel, and the file says so; a kernel whose format needs a CPU feature
this host lacks (``bitmask``: AVX-512 VBMI2 or AVX2) keeps its fit and measurements from the
checked-in ``avx512`` file, which says that too (no compile for this host chooses it). The GPU kernels (``gpu`` and ``vulkan``
families) are fitted the same way from ``benchmarks/gpu_results.json``, the timings
``python benchmarks/gpu.py run`` wrote on a GPU machine (its comparison-only cases,
``as_scheduled`` false, are left out); ``--gpu-only`` refits just those into an existing
file; ``--only FORMAT/KERNEL,...`` refits the named CPU kernels into an existing file,
timing each layer dense beside them: where dense runs at another speed than the file's dense
fit says, the new timings would not compare with the others, and nothing is written
(see ``check_drift``).
``--quick`` measures one small shape with short timing (for CI: it checks the script,
its numbers are rough).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import pruning  # noqa: E402
from run import median_ms  # noqa: E402

import sparsile  # noqa: E402
from sparsile.passes.cost_model import COST_MODEL_ENV, FALLBACK_ISA, checked_in_file  # noqa: E402
from sparsile.passes.formats import get_format  # noqa: E402
from sparsile.targets import host_vector_isa, resolve_target  # noqa: E402

#: Where this host's fit goes unless -o says otherwise.
HOST_FILE = checked_in_file(host_vector_isa())
#: The fit of the widest instruction set: kernels this host cannot time keep their fit from it.
KEPT_FROM = checked_in_file(FALLBACK_ISA)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """What one kernel is timed on: the pattern its layers get, row counts, densities and weight dtypes."""

    pattern: str
    rows: tuple[int, ...]
    densities: tuple[float, ...]
    dtypes: tuple[str, ...] = ("f32", "f16")
    #: How many of SHAPES (in order) it is timed on; a few-row kernel also on LARGE_SHAPE.
    shapes: int = 5
    #: Target features the compile is told the CPU has, to choose this kernel (the host must have them).
    features: tuple[str, ...] = ()

    @property
    def few_rows(self) -> bool:
        """Kernels for a few rows stream the weight once: they are also timed where the bytes decide."""
        return max(self.rows) <= 8


# Half-precision weights only where bytes can decide (kernels streaming the weight once);
# the others compute as much for any precision.
PLAN = {
    ("dense", "matmul"): Sweep("dense", (1, 3, 16, 64, 197, 512), (1.0,)),
    ("csr", "batch1"): Sweep("csr", (1,), (0.05, 0.1, 0.3, 0.5), ("f32", "f16", "int8", "int4-g128")),
    ("csr", "blocked"): Sweep("csr", (3, 16, 33, 64, 197, 512), (0.1, 0.3, 0.5), ("f32",)),
    ("nm", "select"): Sweep("2:4", (1,), (0.5,), ("f32", "f16", "int8", "int4-g128")),
    ("channels", "matmul"): Sweep("channels", (1, 16, 197), (0.5,), ("f32",)),
    ("bsr", "batch1"): Sweep("bsr16", (1,), (0.1, 0.25, 0.5), ("f32",)),
    ("bsr", "blocked"): Sweep("bsr16", (3, 16, 64, 197, 512), (0.1, 0.25), ("f32",)),
    ("bitmask", "rows"): Sweep("csr", (1, 3, 8), (0.1, 0.3, 0.6), ("f32", "f16", "int8", "int4-g128"), shapes=3),
    ("bitmask", "permute"): Sweep("csr", (1, 3, 8), (0.1, 0.3, 0.6), ("f32", "f16", "int8", "int4-g128"), shapes=3,
                                  features=("vector-permute",)),
    ("dense", "rows"): Sweep("dense", (1, 3, 8), (1.0,), ("int8", "int4-g128")),
    ("dense", "dequant"): Sweep("dense", (16, 64, 197), (1.0,), ("int8", "int4-g128")),
}
SHAPES = ((384, 1536), (2048, 2048), (3072, 768), (1536, 384), (768, 3072))
#: A layer of 64 MB in float32, twice the last-level cache of this project's machines.
LARGE_SHAPE = (4096, 4096)
QUICK_SHAPES = ((384, 1536),)
#: Convolution kernels, timed on single NCHW convolutions (rows: the batch).
CONV_PLAN = {
    ("dense", "conv"): Sweep("dense", (1, 4), (1.0,), ("f32",)),
    ("csr", "conv"): Sweep("csr", (1, 4), (0.1, 0.3), ("f32",)),
}
#: (in channels, out channels, window, image size, stride) of a ResNet's convolutions.
CONV_SHAPES = ((64, 64, 3, 56, 1), (128, 128, 3, 28, 1), (64, 64, 1, 56, 1), (64, 128, 3, 56, 2), (256, 256, 3, 14, 1))
QUICK_CONV_SHAPES = ((16, 16, 3, 16, 1),)
#: Weight dtypes: torch's, or a quantization scheme applied to float32 weights.
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32, "int4-g128": torch.float32}
QUANTIZED = ("int8", "int4-g128")
#: Kernels not measured here, and the measured kernel whose coefficients they take.
ASSUMED = {("csr", "native"): ("csr", "blocked"), ("bsr", "native"): ("bsr", "blocked"), ("channels", "conv"): ("dense", "conv")}
#: GPU timings (benchmarks/gpu.py run), and the kernel each of its formats ran.
GPU_RESULTS = ROOT / "benchmarks" / "gpu_results.json"
GPU_KERNELS = (("dense", "gpu_matmul"), ("ell", "gather"), ("nmell", "gather"), ("bell", "gather"), ("bell", "packed_blocks"))
GPU_ASSUMED = {("channels", "gpu_matmul"): ("dense", "gpu_matmul")}


def gpu_coefficients(path: Path) -> tuple[dict[str, dict[str, dict]], dict]:
    """The GPU kernels' coefficients fitted to ``path``'s timings, and the machine they ran on;
    without timings every GPU kernel is marked unmeasured (it then predicts nothing)."""
    if not path.exists():
        unmeasured = {"fixed": 0.0, "per_value": 0.0, "per_row": 0.0, "per_block": 0.0, "unmeasured": True,
                      "reason": f"no GPU timings ({path.name}): run benchmarks/gpu.py on a GPU, then calibrate.py --gpu-only"}
        table: dict[str, dict[str, dict]] = {}
        for fmt, kernel in [*GPU_KERNELS, *GPU_ASSUMED]:
            table.setdefault(fmt, {})[kernel] = dict(unmeasured)
        return table, {}
    data = json.loads(path.read_text())
    overhead = float(data["overhead_seconds"])
    table = {}
    for fmt, kernel in GPU_KERNELS:
        first = next(k for f, k in GPU_KERNELS if f == fmt)  # what a case that names no kernel ran
        samples = [{"seconds": c["seconds"] - overhead, "total_seconds": c["seconds"], "stored": c["stored"], "bytes": c["storage_bytes"],
                    "computed_rows": c["rows"], "blocks": 1}
                   for c in data["cases"] if c["format"] == fmt and c.get("kernel", first) == kernel and c.get("as_scheduled", True)]
        if not samples:
            raise SystemExit(f"{path} holds no timings of format '{fmt}', kernel '{kernel}'")
        # Weights in several precisions (float32, float16, int8) move different bytes per value.
        terms = ("fixed", "per_value", "per_row") + (("per_byte",) if len({s["bytes"] / s["stored"] for s in samples}) > 1 else ())
        table.setdefault(fmt, {})[kernel] = {**fit(samples, terms), "measured_on": data["machine"]}
    for (fmt, kernel), (source_fmt, source_kernel) in GPU_ASSUMED.items():
        table.setdefault(fmt, {})[kernel] = {**table[source_fmt][source_kernel], "assumed_from": f"{source_fmt}/{source_kernel}"}
    return table, data["machine"]


def _merge(table: dict, extra: dict) -> None:
    for fmt, kernels in extra.items():
        table.setdefault(fmt, {}).update(kernels)


def bootstrap_model(directory: Path) -> Path:
    """A coefficient file marking every kernel unmeasured: the layers being timed are stored in the
    format they are forced to, whatever an earlier (or missing) calibration says."""
    from sparsile.passes.formats import all_formats

    entry = {"fixed": 0.0, "per_value": 0.0, "per_row": 0.0, "unmeasured": True, "reason": "calibrating"}
    table = {fmt.name: {kernel: dict(entry) for kernel in fmt.kernels} for fmt in all_formats()}
    path = directory / "bootstrap_coefficients.json"
    path.write_text(json.dumps({"coefficients": table}))
    return path


def layer_for(pattern: str, shape: tuple[int, int], density: float, dtype: str = "f32") -> torch.nn.Linear:
    k, n = shape
    torch.manual_seed(0)
    layer = torch.nn.Linear(k, n, bias=False).eval()
    if pattern == "csr":
        pruning.magnitude(layer, 1.0 - density)
    elif pattern == "2:4":
        pruning.n_of_m(layer, 2, 4)
    elif pattern == "channels":
        pruning.neurons(layer, 1.0 - density)
    elif pattern.startswith("bsr"):
        pruning.blocks(layer, 1.0 - density, int(pattern[3:]))
    return layer.to(DTYPES[dtype])


class Doubling(torch.nn.Module):
    """The call itself: arguments in, a result out, one trivial dispatch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0


def measure(fmt: str, kernel: str, pattern: str, shape: tuple[int, int], rows: int, density: float, seconds: float, dtype: str = "f32",
            features: tuple[str, ...] = (), reference: Path | None = None) -> dict:
    """One layer forced into ``fmt``, timed against a compiled ``x * 2`` (the call's own cost).

    With ``reference`` (a coefficient file whose other kernels the new timings must compare with:
    ``--only``), the same layer stored dense is timed too, interleaved, and the sample records
    it beside what that file's dense fit predicts (:func:`check_drift`).
    """
    layer = layer_for(pattern, shape, density, dtype)
    x = torch.randn(rows, shape[0], dtype=DTYPES[dtype])
    options: dict = {"cache": False}
    if dtype in QUANTIZED:
        options["quantize"] = dtype
    if fmt == "dense":
        options["pass_options"] = {"detect-sparsity": {"patterns": []}}
    else:
        options["sparsity"] = {"weight": pattern}  # requested: stored sparse whatever the current model says
        options["pass_options"] = {"schedule": {"formats": [fmt], **({"features": list(features)} if features else {})}}
    compiled = sparsile.compile(layer, (x,), **options)
    call = sparsile.compile(Doubling().eval(), (x,), cache=False)
    (report,) = compiled.report
    if report.format != fmt:
        raise RuntimeError(f"{fmt}/{kernel}: the layer was stored as {report.format}, not {fmt}")
    dense, dense_predicted = _dense_reference(layer, x, dtype, reference) if reference is not None else (None, 0.0)
    timed = {"layer": compiled, "call": call, **({"dense": dense} if dense is not None else {})}
    times: dict[str, list[float]] = {name: [] for name in timed}
    with torch.no_grad():
        for _ in range(3):  # interleaved, so that the machine's drift hits all alike
            for name, model in timed.items():
                times[name] += median_ms(lambda model=model: model(x), seconds)
    for model in timed.values():
        model.release()
    stored = report.stored_values
    computed, blocks = _computed_rows(fmt, kernel, rows)
    total, overhead = statistics.median(times["layer"]) / 1e3, statistics.median(times["call"]) / 1e3
    sample = {"format": fmt, "kernel": kernel, "shape": list(shape), "rows": rows, "computed_rows": computed, "blocks": blocks,
              "density": density, "dtype": dtype, "stored": stored, "bytes": int(report.sparse_bytes),
              "call_seconds": overhead, "total_seconds": total, "seconds": total - overhead}
    if dense is not None:
        sample["dense_measured_seconds"] = statistics.median(times["dense"]) / 1e3 - overhead
        sample["dense_predicted_seconds"] = dense_predicted
    return sample


def _dense_reference(layer: torch.nn.Module, x: torch.Tensor, dtype: str, reference: Path) -> tuple[sparsile.CompiledModel, float]:
    """``layer`` compiled dense as IREE's matmul (not quantized: a quantized dense kernel may be the one being
    timed), and the seconds ``reference``'s dense fit predicts for it (the schedule records that for a layer with a
    sparse pattern: any weight holds csr's, which is declared, and dense is the only format)."""
    options: dict = {"cache": False, "sparsity": {"weight": "csr"}, "pass_options": {"schedule": {"formats": ["dense"]}}}
    calibrating = os.environ[COST_MODEL_ENV]
    os.environ[COST_MODEL_ENV] = str(reference)
    try:
        dense = sparsile.compile(layer, (x,), **options)
    finally:
        os.environ[COST_MODEL_ENV] = calibrating
    (report,) = dense.report
    if report.format != "dense" or not report.dense_predicted_us:
        dense.release()
        raise RuntimeError(f"{reference} predicts no time for the dense layer {tuple(x.shape)} x {tuple(layer.weight.shape)} in {dtype}: "
                           "rerun calibrate.py without --only")
    return dense, report.dense_predicted_us * 1e-6


#: How far from its fitted time dense may run (median over a shape's samples, either way) for kernels
#: timed now to be fitted beside the file's others.
DRIFT_TOLERANCE = 0.25


def check_drift(samples: list[dict], reference: Path) -> str:
    """Why ``samples`` (timed beside dense: ``--only``) cannot join ``reference``'s fit, or ``""``.

    The schedule compares a kernel's fit with dense's, and this machine's speed drifts from day
    to day by more than kernels differ, and not alike for every kernel: on a busy day dense
    float32 4096x4096 at one row ran at 1.7-2.4x its fitted time while the bitmask permute
    kernel, bound by its expand rather than by memory, cost the same per weight position at
    2048x2048 as at 4096x4096 (177-180 ps at 30% density, 211-229 ps at 60%; dense's fit: 137
    ps a weight). Scaled by dense's drift, it was fitted at 71 ps a position (162 as timed), ahead
    of dense at 50% where it runs at 1.3-1.6x dense on a quiet machine; timed as they run, the
    kernels bound by memory (csr's, at high sparsity) would be fitted slower than they are. So
    where dense's median time at any shape is off its fit by more than :data:`DRIFT_TOLERANCE`,
    the timings are refused.
    """
    ratios: dict[tuple[int, ...], list[float]] = {}
    for s in samples:
        ratios.setdefault(tuple(s["shape"]), []).append(s["dense_measured_seconds"] / s["dense_predicted_seconds"])
    off = {shape: statistics.median(r) for shape, r in ratios.items()}
    off = {shape: r for shape, r in off.items() if not 1 / (1 + DRIFT_TOLERANCE) <= r <= 1 + DRIFT_TOLERANCE}
    if not off:
        return ""
    shapes = ", ".join(f"{'x'.join(map(str, shape))}: {r:.2f}x" for shape, r in off.items())
    return (f"dense ran at another speed than {reference}'s dense fit predicts ({shapes} its fitted time, median over the shape's "
            f"samples; at most {1 + DRIFT_TOLERANCE:.2f}x either way), so kernels timed now would not compare with the file's others; "
            "nothing was written. Run it again on a quieter machine, or run calibrate.py without --only to time every kernel alike")


def measure_conv(fmt: str, kernel: str, pattern: str, shape: tuple[int, ...], batch: int, density: float, seconds: float) -> dict:
    """One convolution ``shape`` (in, out, window, size, stride) at ``batch`` images, forced into ``fmt``."""
    cin, cout, window, size, stride = shape
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, window, stride=stride, padding=window // 2, bias=False).eval()
    if pattern == "csr":
        pruning.magnitude(conv, 1.0 - density)
    x = torch.randn(batch, cin, size, size)
    options: dict = {"cache": False}
    if fmt == "dense":
        options["pass_options"] = {"detect-sparsity": {"patterns": []}}
    else:
        options["sparsity"] = {"weight": pattern}
        options["pass_options"] = {"schedule": {"formats": [fmt]}}
    compiled = sparsile.compile(conv, (x,), **options)
    call = sparsile.compile(Doubling().eval(), (x,), cache=False)
    (report,) = compiled.report
    if report.format != fmt:
        raise RuntimeError(f"{fmt}/{kernel}: the convolution was stored as {report.format}, not {fmt}")
    layer_times: list[float] = []
    call_times: list[float] = []
    with torch.no_grad():
        for _ in range(3):
            layer_times += median_ms(lambda: compiled(x), seconds)
            call_times += median_ms(lambda: call(x), seconds)
    compiled.release()
    call.release()
    total, overhead = statistics.median(layer_times) / 1e3, statistics.median(call_times) / 1e3
    return {"format": fmt, "kernel": kernel, "shape": list(shape), "rows": batch, "computed_rows": _conv_rows(fmt, pattern, conv, x), "blocks": 1,
            "density": density, "dtype": "f32", "stored": report.stored_values, "bytes": int(report.sparse_bytes),
            "call_seconds": overhead, "total_seconds": total, "seconds": total - overhead}


def _conv_rows(fmt: str, pattern: str, conv: torch.nn.Conv2d, x: torch.Tensor) -> int:
    """The output positions a convolution kernel computes (its plan's, where it pads them)."""
    from sparsile.dialects.patterns import Pattern
    from sparsile.passes.conv_geometry import ConvGeometry
    from sparsile.passes.formats import get_format

    (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.stride, conv.dilation
    geometry = ConvGeometry((kh, kw), (sh, sw), (dh, dw))
    n, c, h, w = x.shape
    padded = (n, c, h + 2 * int(conv.padding[0]), w + 2 * int(conv.padding[1]))
    weight = conv.weight.detach().numpy().reshape(conv.out_channels, -1)
    plan = get_format(fmt).plan_conv(Pattern.parse(pattern), weight, geometry, padded, "cpu")
    if plan is not None and plan.rows:
        return plan.rows
    oh, ow = geometry.output_size(padded[2], padded[3])
    return n * oh * ow


def _computed_rows(fmt: str, kernel: str, rows: int) -> tuple[int, int]:
    """(rows the kernel computes, activation blocks it streams the weight for)."""
    if fmt == "csr" and kernel == "blocked":
        from sparsile.passes.csr_kernels import activation_block
        from sparsile.passes.feature_major import padded_rows

        mb = activation_block(rows)
        return padded_rows(rows, mb), padded_rows(rows, mb) // mb
    if fmt == "bsr" and kernel == "blocked":
        from sparsile.passes.bsr_kernels import ACTIVATION_BLOCK
        from sparsile.passes.feature_major import padded_rows

        return padded_rows(rows, ACTIVATION_BLOCK), padded_rows(rows, ACTIVATION_BLOCK) // ACTIVATION_BLOCK
    return rows, 1


#: The terms of the model: name -> the feature it multiplies.
TERMS = {
    "fixed": lambda s: 1.0,
    "per_byte": lambda s: float(s.get("bytes", 0)),
    "per_value": lambda s: float(s["stored"]),
    "per_row": lambda s: float(s["stored"] * s["computed_rows"]),
    "per_block": lambda s: float(s["stored"] * s["blocks"]),
    "per_position": lambda s: float(_positions(s)),
}


def _positions(sample: dict) -> int:
    """The weight positions the sample's kernel visits, zeros included (0 for kernels that follow the stored values)."""
    shape = sample["shape"]
    return get_format(sample["format"]).scanned_positions((shape[1], shape[0])) if len(shape) == 2 else 0


def fit(samples: list[dict], terms: tuple[str, ...], fixed: float | None = None) -> dict:
    """Least squares over ``terms``, each sample weighted by its whole call's time (the noise scales with it);
    a negative coefficient is dropped and the rest refit. With ``fixed`` the cost per call is that, not fitted."""
    y = np.array([s["seconds"] for s in samples])
    weight = 1.0 / np.array([s["total_seconds"] for s in samples])
    active = [t for t in terms if fixed is None or t != "fixed"]
    while True:
        a = np.array([[TERMS[t](s) for t in active] for s in samples]) * weight[:, None]
        solution, *_ = np.linalg.lstsq(a, (y - (fixed or 0.0)) * weight, rcond=None)
        if (solution >= 0).all() or len(active) == 1:
            break
        active.pop(int(np.argmin(solution)))
    coefficients = dict.fromkeys(("fixed", "per_byte", "per_value", "per_row", "per_block", "per_position"), 0.0)
    coefficients.update({t: float(max(0.0, v)) for t, v in zip(active, solution)})
    if fixed is not None:
        coefficients["fixed"] = fixed
    predicted = np.array([sum(coefficients[t] * TERMS[t](s) for t in TERMS) for s in samples])
    # Relative to the whole call: what the schedule's choices see of a model's time.
    coefficients["median_relative_error"] = round(float(np.median(np.abs(predicted - y) * weight)), 3)
    return coefficients


#: A kernel that streams its weight per activation block gets a fit of its own up to this many computed rows.
FEW_ROWS = 16


def fit_kernel(samples: list[dict]) -> dict:
    """One kernel's coefficients over all its samples and, where it was timed in several
    precisions, a fit per precision (``by_precision``) from that precision's samples alone.

    A kernel timed over several activation blocks (the K-blocked csr and bsr kernels) costs
    nearly as much at 4 rows as at 16 and grows with the rows beyond: one line over 3 to 512
    rows underestimated the csr kernel at 3 rows by 2-3x (and the schedule chose it over a
    faster dense matmul). Its samples up to :data:`FEW_ROWS` computed rows get a fit of
    their own besides the one over all (``few_rows``, with ``max_rows``: the cost model takes
    it up to there). The main fit keeps every sample: without the few-row ones, its fixed
    cost (107 us on the AVX-512 machine, 34 us with them) left small layers dense. The
    few-row fit takes the main fit's cost per call as it is (a call costs that whatever its
    rows; fitted on its own from large layers' samples it came out 0 and put a 20%-pruned
    128x128 layer at 5 rows at a third of dense).
    """
    entry = fit(samples, _terms(samples))
    few = [s for s in samples if s["computed_rows"] <= FEW_ROWS]
    if any(s["blocks"] > 1 for s in samples) and len(few) >= 2 * len(_terms(few)):
        entry["few_rows"] = {**fit(few, _terms(few), fixed=entry["fixed"]), "max_rows": max(s["computed_rows"] for s in few)}
    precisions = sorted({s["dtype"] for s in samples if "dtype" in s})
    if len(precisions) > 1:
        by_precision = {}
        for precision in precisions:
            own = [s for s in samples if s.get("dtype") == precision]
            terms = _terms(own)
            if len(own) >= 2 * len(terms):
                by_precision[precision] = fit(own, terms)
        entry["by_precision"] = by_precision
    return entry


def _terms(samples: list[dict]) -> tuple[str, ...]:
    """The terms the samples can tell apart: each term in turn is kept only if its feature is not a
    combination of the kept ones' (a bitmask's bytes, say, are its positions / 8 plus its values'
    bytes in one precision: fitting both would split one cost between them arbitrarily)."""
    kept: list[str] = []
    columns: list[np.ndarray] = []
    for term in ("fixed", "per_value", "per_row", "per_block", "per_position", "per_byte"):
        column = np.array([TERMS[term](s) for s in samples], dtype=np.float64)
        norm = np.linalg.norm(column)
        if norm == 0.0:
            continue
        trial = np.column_stack([*columns, column / norm])
        if np.linalg.matrix_rank(trial, tol=1e-3) == trial.shape[1]:
            kept.append(term)
            columns.append(column / norm)
    return tuple(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small shape, short timing (checks the script)")
    parser.add_argument("-o", "--output", default=str(HOST_FILE), help="the file to write (default: this host's, %(default)s)")
    parser.add_argument("--gpu-only", action="store_true", help=f"refit only the GPU kernels (from {GPU_RESULTS.name}) into --output")
    parser.add_argument("--gpu-results", default=str(GPU_RESULTS), help="the GPU timings to fit")
    parser.add_argument("--only", default="", help="FORMAT/KERNEL,...: refit only these kernels into --output")
    parser.add_argument("--refit", action="store_true", help="fit --output's own measurements again (no timing)")
    args = parser.parse_args(argv)
    only = {tuple(item.split("/", 1)) for item in args.only.split(",") if item}
    unknown = only - set(PLAN) - set(CONV_PLAN)
    if unknown:
        known = ", ".join("/".join(p) for p in (*PLAN, *CONV_PLAN))
        parser.error(f"--only: no such CPU kernel {', '.join('/'.join(u) for u in sorted(unknown))}; kernels: {known}")
    if (args.refit or args.only or args.gpu_only) and not Path(args.output).exists():
        parser.error(f"{args.output} does not exist: --refit, --only and --gpu-only update an existing file (run without them first)")
    if args.refit:
        return refit(Path(args.output))
    gpu_table, gpu_machine = gpu_coefficients(Path(args.gpu_results))
    if args.gpu_only:
        out = json.loads(Path(args.output).read_text())
        _merge(out["coefficients"], gpu_table)
        out["gpu_machine"] = gpu_machine
        Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
        _print(gpu_table, args.output)
        return 0
    torch.set_num_threads(2)
    os.environ[COST_MODEL_ENV] = str(bootstrap_model(Path(tempfile.mkdtemp(prefix="sparsile-calibrate-"))))
    shapes, seconds = (QUICK_SHAPES, 0.05) if args.quick else (SHAPES, 0.3)
    table: dict[str, dict[str, dict]] = {}
    measurements: list[dict] = []
    for (fmt, kernel), sweep in PLAN.items():
        if only and (fmt, kernel) not in only:
            continue
        lacking = get_format(fmt).kernel_missing_features(kernel, resolve_target("cpu").features)
        if lacking:
            kept, kept_samples = _checked_in(fmt, kernel)
            print(f"{fmt}/{kernel}: not timed, {fmt} needs {lacking}, which this host lacks; "
                  f"its fit and measurements are kept from {KEPT_FROM.relative_to(ROOT)}", file=sys.stderr, flush=True)
            table.setdefault(fmt, {})[kernel] = {**kept, "kept_from": f"{KEPT_FROM.relative_to(ROOT)} (this host lacks {lacking})"}
            measurements += kept_samples
            continue
        # A kernel refitted alone is timed beside IREE's dense matmul, to check that it runs as its fit says (check_drift).
        reference = Path(args.output) if only and (fmt, kernel) != ("dense", "matmul") else None
        if only and reference is None:
            print(f"{fmt}/{kernel}: timed as it runs today, with nothing to check that against", file=sys.stderr, flush=True)
        rows_list = sweep.rows[::3] if args.quick else sweep.rows
        kernel_shapes = shapes if args.quick else shapes[: sweep.shapes] + ((LARGE_SHAPE,) if sweep.few_rows else ())
        samples = []
        for shape in kernel_shapes:
            for rows in rows_list:
                for density in sweep.densities:
                    for dtype in sweep.dtypes[:1] if args.quick else sweep.dtypes:
                        print(f"{fmt}/{kernel} {shape[0]}x{shape[1]} M={rows} density={density} {dtype} ...", file=sys.stderr, flush=True)
                        samples.append(measure(fmt, kernel, sweep.pattern, shape, rows, density, seconds, dtype, sweep.features, reference))
            # Checked shape by shape, so that a busy machine is told before the largest layers are timed.
            if reference is not None and (problem := check_drift([s for s in samples if tuple(s["shape"]) == shape], reference)):
                print(f"calibrate.py --only {fmt}/{kernel}: {problem}", file=sys.stderr)
                return 1
        table.setdefault(fmt, {})[kernel] = fit_kernel(samples)
        measurements += samples
    for (fmt, kernel), sweep in CONV_PLAN.items():
        if only and (fmt, kernel) not in only:
            continue
        if only:
            print(f"{fmt}/{kernel}: timed as it runs today (convolutions have no dense reference yet)", file=sys.stderr, flush=True)
        samples = []
        for conv_shape in QUICK_CONV_SHAPES if args.quick else CONV_SHAPES:
            for batch in sweep.rows[:1] if args.quick else sweep.rows:
                for density in sweep.densities[:1] if args.quick else sweep.densities:
                    print(f"{fmt}/{kernel} {conv_shape} N={batch} density={density} ...", file=sys.stderr, flush=True)
                    samples.append(measure_conv(fmt, kernel, sweep.pattern, conv_shape, batch, density, seconds))
        table.setdefault(fmt, {})[kernel] = fit_kernel(samples)
        measurements += samples
    for (fmt, kernel), (source_fmt, source_kernel) in ASSUMED.items():
        if source_kernel in table.get(source_fmt, {}):
            table.setdefault(fmt, {})[kernel] = _assumed(table[source_fmt][source_kernel], source_fmt, source_kernel)
    if only:
        out = json.loads(Path(args.output).read_text())
        _merge(out["coefficients"], table)
        out["measurements"] = [m for m in out["measurements"] if (m["format"], m["kernel"]) not in only] + measurements
        out["made"]["only"] = sorted({*out["made"].get("only", []), *("/".join(o) for o in only)})
        Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
        _print(table, args.output)
        return 0
    _merge(table, gpu_table)
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    out = {
        "machine": {"cpu": cpu, "vector_isa": host_vector_isa(), "cores_used": torch.get_num_threads(), "platform": platform.platform()},
        "made": {"command": "python benchmarks/calibrate.py" + (" --quick" if args.quick else ""), "date": datetime.date.today().isoformat(),
                 "sparsile": sparsile.__version__},
        "gpu_machine": gpu_machine,
        "coefficients": table,
        "measurements": measurements,
    }
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    _print(table, args.output)
    return 0


def _assumed(entry: dict, source_fmt: str, source_kernel: str) -> dict:
    """A measured kernel's fit for one that is not measured: the main fit only (the few-row one
    is the K-blocked kernels' activation-block streaming, which the native kernels do not do)."""
    return {**{k: v for k, v in entry.items() if k != "few_rows"}, "assumed_from": f"{source_fmt}/{source_kernel}"}


def _checked_in(fmt: str, kernel: str) -> tuple[dict, list[dict]]:
    """``fmt/kernel``'s fit and measurements in the checked-in ``avx512`` cost model (for a kernel this host cannot time)."""
    data = json.loads(KEPT_FROM.read_text())
    return data["coefficients"][fmt][kernel], [m for m in data["measurements"] if (m["format"], m["kernel"]) == (fmt, kernel)]


def refit(path: Path) -> int:
    """Fit every CPU kernel of ``path`` again from the measurements it holds (after a change to the fit)."""
    out = json.loads(path.read_text())
    table: dict[str, dict[str, dict]] = {}
    for fmt, kernel in (*PLAN, *CONV_PLAN):
        samples = [m for m in out["measurements"] if (m["format"], m["kernel"]) == (fmt, kernel)]
        if samples:
            table.setdefault(fmt, {})[kernel] = fit_kernel(samples)
    for (fmt, kernel), (source_fmt, source_kernel) in ASSUMED.items():
        if source_kernel in table.get(source_fmt, {}):
            table.setdefault(fmt, {})[kernel] = _assumed(table[source_fmt][source_kernel], source_fmt, source_kernel)
    _merge(out["coefficients"], table)
    out["made"]["refit"] = datetime.date.today().isoformat()
    path.write_text(json.dumps(out, indent=1) + "\n")
    _print(table, str(path))
    return 0


def _print(table: dict, output: str) -> None:
    for fmt, kernels in table.items():
        for kernel, entry in kernels.items():
            for label, c in ((kernel, entry), *((f"{kernel}:{p}", own) for p, own in entry.get("by_precision", {}).items())):
                _print_fit(f"{fmt:>9}/{label:<18}", c)
    print(f"coefficients: {output}")


def _print_fit(name: str, c: dict) -> None:
    print(f"{name} fixed {c['fixed'] * 1e6:7.2f} us  per byte {c.get('per_byte', 0.0) * 1e12:6.2f} ps  "
          f"per value {c['per_value'] * 1e12:6.1f} ps  "
          f"per value and row {c['per_row'] * 1e12:6.2f} ps  per value and block {c['per_block'] * 1e12:6.1f} ps  "
          f"per position {c.get('per_position', 0.0) * 1e12:5.1f} ps  "
          + (c.get("assumed_from") or c.get("kept_from") or c.get("reason") or f"fit error {c.get('median_relative_error')}"))


if __name__ == "__main__":
    raise SystemExit(main())
