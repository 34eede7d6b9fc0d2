"""The cost model's coefficients come from benchmarks/calibrate.py, and compiles use the file they are given."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pruning
import pytest
import torch

import sparsile
import sparsile.driver
from sparsile.passes.formats import all_formats

ROOT = Path(__file__).resolve().parent.parent
#: The checked-in fit of the AVX-512 machine (the one every host without a fit of its own uses).
AVX512_MODEL = ROOT / "passes" / "cost_models" / "avx512.json"


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrate") / "coefficients.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibrate.py"), "--quick", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def _every_kernel(table: dict) -> None:
    for fmt in all_formats():
        for kernel in fmt.kernels:
            entry = table[fmt.name][kernel]
            assert entry["per_value"] >= 0 and entry["per_row"] >= 0 and entry["fixed"] >= 0, (fmt.name, kernel)


@pytest.mark.parametrize("isa", ["avx512", "avx2"])
def test_each_checked_in_model_covers_every_kernel_and_says_where_it_came_from(isa):
    data = json.loads((ROOT / "passes" / "cost_models" / f"{isa}.json").read_text())
    _every_kernel(data["coefficients"])
    assert data["made"]["command"] == "python benchmarks/calibrate.py" and data["machine"]["cpu"]
    assert data["machine"]["vector_isa"] == isa
    assert len(data["measurements"]) > 50


@pytest.mark.parametrize(("host_isa", "expected"), [("avx2", "avx2"), ("avx512", "avx512"), ("aarch64", "avx512")])
def test_a_compile_uses_the_fit_of_the_hosts_vector_isa(monkeypatch, host_isa, expected):
    """Each instruction set's fit where one is checked in, the AVX-512 one elsewhere; SPARSILE_COST_MODEL overrides both."""
    import sparsile.targets
    from sparsile.passes.cost_model import calibrated_vector_isa, coefficients_file

    monkeypatch.delenv("SPARSILE_COST_MODEL", raising=False)
    monkeypatch.setattr(sparsile.targets, "host_vector_isa", lambda: host_isa)
    assert (coefficients_file().parent.name, coefficients_file().name) == ("cost_models", f"{expected}.json")
    assert calibrated_vector_isa() == expected
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(AVX512_MODEL))
    monkeypatch.setattr(sparsile.targets, "host_vector_isa", lambda: "avx2")
    assert coefficients_file() == AVX512_MODEL


def test_quick_calibration_writes_a_model_that_compiles_use(quick_model, monkeypatch):
    data = json.loads(quick_model.read_text())
    _every_kernel(data["coefficients"])
    assert data["coefficients"]["csr"]["native"]["assumed_from"] == "csr/blocked"
    from sparsile.targets import host_vector_isa

    assert data["machine"]["vector_isa"] == host_vector_isa()
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(quick_model))
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 512).eval()
    pruning.magnitude(layer, 0.9)
    x = torch.randn(33, 256)
    compiled = sparsile.compile(layer, (x,), cache=False)
    (row,) = compiled.report
    c = data["coefficients"][row.format]["blocked" if row.format == "csr" else "matmul"]
    rows = 64 if row.format == "csr" else 33  # csr pads 33 rows to one 64-row block
    # The fit keeps a per-byte term when its samples tell it apart (the bytes: the storage the kernel reads).
    expected = (c["fixed"] + row.sparse_bytes * c.get("per_byte", 0.0) + row.stored_values * (c["per_value"] + c["per_row"] * rows + c["per_block"])) * 1e6
    assert row.predicted_us == float(f"{expected:.3g}")  # recorded to three significant figures


@pytest.mark.parametrize("host_isa, warned", [("avx2", True), ("avx512", False)])
def test_a_cost_model_from_another_vector_isa_is_a_warning(tmp_path, monkeypatch, host_isa, warned):
    """The checked-in fit came from an AVX-512 machine; on an AVX2 host its choices can lose to dense (a
    Zen 3 EPYC decoded int8 2:4 at 0.85 of dense int8's tokens/s), so a host compile that used it says so, once."""
    import warnings

    import sparsile.targets
    from sparsile.passes.cost_model import _load

    data = json.loads(AVX512_MODEL.read_text())
    assert data["machine"]["vector_isa"] == "avx512"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(path))
    _load.cache_clear()
    monkeypatch.setattr(sparsile.targets, "host_vector_isa", lambda: host_isa)
    monkeypatch.setattr(sparsile.driver, "_warned_about_costs", False)
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 64).eval()
    pruning.magnitude(layer, 0.9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            sparsile.compile(layer, (torch.randn(3, 64),), cache=False)
        sparsile.compile(layer, (torch.randn(3, 64),), cache=False, tune=False, target="cpu:aarch64")
    messages = [str(w.message) for w in caught if issubclass(w.category, sparsile.CostModelWarning)]
    expected = [f"the cost model ({path}) was measured on a CPU with avx512, this one has avx2: the storage chosen per layer may be slower "
                f"than dense here; compile with tune=True (--tune), or run benchmarks/calibrate.py -o FILE here and set SPARSILE_COST_MODEL=FILE"]
    assert messages == (expected if warned else [])
    _load.cache_clear()


def test_a_broken_model_file_is_a_clear_error(tmp_path, monkeypatch, models):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(path))
    from sparsile.passes.cost_model import _load

    _load.cache_clear()
    monkeypatch.setattr(sparsile.driver, "load_source", lambda *a: pytest.fail("the model was imported before the cost model was checked"))
    model, args = models.mlp()
    torch.manual_seed(0)
    pruning.magnitude(model.layers[0], 0.9)
    with pytest.raises(sparsile.SparsileError, match=r"cost model .*broken.json cannot be read .*rerun benchmarks/calibrate.py or unset SPARSILE_COST_MODEL"):
        sparsile.compile(model, args, cache=False)
    path.write_text(json.dumps({"coefficients": {"dense": {"matmul": {"per_value": 1e-10, "per_row": 1e-11}}}}))
    _load.cache_clear()
    with pytest.raises(sparsile.SparsileError, match=r"has no coefficients for format '\w+', kernel '\w+'; rerun benchmarks/calibrate.py"):
        sparsile.compile(model, args, cache=False)


def _calibrate_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" / "calibrate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_drift_is_judged_per_shape_by_the_median_of_its_samples():
    calibrate = _calibrate_module()

    def samples(shape, ratios):
        return [{"shape": list(shape), "dense_measured_seconds": r * 1e-3, "dense_predicted_seconds": 1e-3} for r in ratios]

    quiet = samples((384, 1536), [1.1, 0.7, 1.2]) + samples((4096, 4096), [0.9, 1.6, 1.0])  # single samples off, medians not
    assert calibrate.check_drift(quiet, Path("fit.json")) == ""
    busy = samples((384, 1536), [1.1, 0.9, 1.2]) + samples((4096, 4096), [1.7, 2.4, 1.8])
    problem = calibrate.check_drift(busy, Path("fit.json"))
    assert "(4096x4096: 1.80x its fitted time" in problem and "384x1536" not in problem and "nothing was written" in problem
    assert "(384x1536: 0.70x" in calibrate.check_drift(samples((384, 1536), [0.7, 0.6, 0.75]), Path("fit.json"))


def test_a_kernel_refitted_alone_on_a_machine_running_dense_off_its_fit_is_refused(tmp_path):
    """``--only`` times each layer dense beside the kernel: where dense runs at another speed than the file's dense
    fit says (here: a fit predicting 1 ms for these ~0.1 ms layers), the new timings are refused and the file is kept."""
    from sparsile.passes.cost_model import coefficients_file

    data = json.loads(coefficients_file().read_text())
    data["coefficients"]["dense"]["matmul"] = {"fixed": 1e-3, "per_value": 0.0, "per_row": 0.0, "per_byte": 0.0}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    before = path.read_text()
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibrate.py"), "--quick", "--only", "csr/batch1", "-o", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert re.search(r"calibrate.py --only csr/batch1: dense ran at another speed than .*model.json's dense fit predicts "
                     r"\(384x1536: 0\.\d\dx its fitted time", result.stderr), result.stderr
    assert "nothing was written" in result.stderr
    assert path.read_text() == before


@pytest.mark.parametrize(("error", "expected"), [(0.0, "csr"), (0.2, "dense")])
def test_a_kernel_is_trusted_only_as_far_as_its_fit_was_measured(tmp_path, monkeypatch, error, expected):
    """Predicted at 0.85 of dense: inside the 0.9 margin, outside a fit that is 20% off."""
    from sparsile.passes.cost_model import _load, coefficients_file

    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 512, bias=False).eval()
    pruning.magnitude(layer, 0.9)
    stored = int(torch.count_nonzero(layer.weight))
    data = json.loads(coefficients_file().read_text())
    data["coefficients"]["dense"]["matmul"] = {"fixed": 0.0, "per_value": 1e-10, "per_row": 0.0}
    per_value = 0.85 * 1e-10 * layer.weight.numel() / stored
    data["coefficients"]["csr"]["batch1"] = {"fixed": 0.0, "per_value": per_value, "per_row": 0.0, "median_relative_error": error}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(path))
    _load.cache_clear()
    (row,) = sparsile.compile(layer, (torch.randn(1, 256),), cache=False).report
    assert row.format == expected
    assert row.predicted_us / row.dense_predicted_us == pytest.approx(0.85 if expected == "csr" else 1.0, rel=0.01)


@pytest.mark.parametrize(("quantize", "expected_us"), [("int8", 1000.0), ("int4-g128", 500.0)])
def test_a_precision_timed_on_its_own_uses_its_own_fit(tmp_path, monkeypatch, quantize, expected_us):
    """int8 has a fit of its own in the file (1 ms per call); int4-g128 has none and takes the kernel's pooled fit (0.5 ms)."""
    from sparsile.passes.cost_model import _load, coefficients_file

    data = json.loads(coefficients_file().read_text())
    zero = {"per_value": 0.0, "per_row": 0.0, "per_byte": 0.0}
    data["coefficients"]["dense"]["rows"] = {**zero, "fixed": 5e-4, "by_precision": {"int8": {**zero, "fixed": 1e-3}}}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(path))
    _load.cache_clear()
    torch.manual_seed(0)
    (row,) = sparsile.analyze(torch.nn.Linear(256, 512, bias=False).eval(), (torch.randn(1, 256),), quantize=quantize)
    assert row.format == "dense" and row.dense_predicted_us == expected_us


def test_the_fit_separates_precisions_and_positions():
    """Samples made from known costs: a bitmask kernel pays per position visited (zeros too) and per value,
    differently in each precision; the fit recovers each precision's coefficients."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    truth = {"f32": (20e-6, 45e-12, 30e-12), "int8": (25e-6, 60e-12, 10e-12)}  # fixed, per position, per value and row
    samples = []
    for dtype, (fixed, per_position, per_row) in truth.items():
        for shape in ((384, 1536), (2048, 2048), (4096, 4096)):
            for density in (0.1, 0.3, 0.6):
                for rows in (1, 3, 8):
                    positions = shape[0] * shape[1]
                    stored = int(positions * density)
                    seconds = fixed + positions * per_position + stored * per_row * rows
                    samples.append({"format": "bitmask", "kernel": "rows", "shape": list(shape), "dtype": dtype, "stored": stored,
                                    "bytes": positions // 8 + stored * (4 if dtype == "f32" else 1), "computed_rows": rows, "blocks": 1,
                                    "seconds": seconds, "total_seconds": seconds + 30e-6})
    entry = calibrate.fit_kernel(samples)
    for dtype, (fixed, per_position, per_row) in truth.items():
        own = entry["by_precision"][dtype]
        assert own["per_position"] == pytest.approx(per_position, rel=1e-3)
        assert own["per_row"] == pytest.approx(per_row, rel=1e-3)
        assert own["fixed"] == pytest.approx(fixed, rel=1e-2, abs=1e-7)


def test_a_k_blocked_kernel_has_a_fit_of_its_own_for_a_few_rows():
    """Samples of a kernel bound by streaming its weight below 16 rows (a floor per value) and
    by its multiply-adds above: one line over all rows misses the floor (as the csr kernel's
    did by 2-3x at 3 rows); the few-row fit follows it, and the cost model takes it up to
    the last few-row count, the main fit above."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import calibrate

    from sparsile.passes.cost_model import Coefficients, at_rows, crossover_rows, linear_cost

    floor, per_row, fixed = 400e-12, 25e-12, 30e-6
    samples = []
    for shape in ((384, 1536), (2048, 2048), (3072, 768)):
        for density in (0.1, 0.3, 0.5):
            stored = int(shape[0] * shape[1] * density)
            for computed, blocks in ((4, 1), (16, 1), (64, 1), (256, 2), (512, 4)):
                seconds = fixed + stored * (floor if computed <= 16 else per_row * computed)
                samples.append({"format": "csr", "kernel": "blocked", "shape": list(shape), "dtype": "f32", "stored": stored,
                                "bytes": stored * 6, "computed_rows": computed, "blocks": blocks, "seconds": seconds,
                                "total_seconds": seconds + 30e-6})
    entry = calibrate.fit_kernel(samples)
    few = entry["few_rows"]
    assert few["max_rows"] == 16
    stored = 1_000_000

    def predicted(e: dict, rows: int) -> float:
        terms = {"fixed": e["fixed"], "per_byte": e["per_byte"], "per_value": e["per_value"], "per_row": e["per_row"],
                 "per_block": e["per_block"], "per_position": e["per_position"]}
        return sum(terms[t] * calibrate.TERMS[t]({"stored": stored, "bytes": stored * 6, "computed_rows": rows, "blocks": 1,
                                                   "shape": [1000, 1000], "format": "csr", "kernel": "blocked"}) for t in terms)

    # A call's fixed cost is the main fit's (it does not depend on the rows); the floor is the few-row fit's own.
    assert few["fixed"] == entry["fixed"]
    assert predicted(few, 4) == pytest.approx(fixed + stored * floor, rel=1e-2)
    assert predicted(few, 16) == pytest.approx(fixed + stored * floor, rel=1e-2)
    # The main fit is the one over every sample, as for any kernel.
    assert {k: v for k, v in entry.items() if k != "few_rows"} == calibrate.fit(samples, calibrate._terms(samples))
    # The cost model: the few-row fit up to 16 rows, the main one above; a dense kernel of 40 ps per value and row
    # costs the same as the floor at 10 rows (the main fit alone, 25 ps per row, would never reach dense).
    main = Coefficients(per_value=0.0, per_row=per_row, fixed=fixed)
    blocked = Coefficients(per_value=0.0, per_row=per_row, fixed=fixed, few=Coefficients(per_value=floor, per_row=0.0, fixed=fixed), few_rows=16)
    sparse, dense = linear_cost(stored, blocked, 16), linear_cost(stored, Coefficients(per_value=0.0, per_row=40e-12, fixed=fixed))
    assert at_rows(sparse, 4) == pytest.approx(fixed + stored * floor) and at_rows(sparse, 64) == pytest.approx(at_rows(linear_cost(stored, main, 16), 64))
    assert crossover_rows(sparse, dense) == pytest.approx(10.0)
    assert crossover_rows(linear_cost(stored, main, 16), dense) is None


@pytest.mark.parametrize(("precision", "timed_as"), [
    ("int4-g128", None), ("int4-g128", "int4-g128"), ("f16", None), ("f16", "f16"), ("bf16", None), ("bf16", "f16"),
])
def test_a_sparse_kernel_never_timed_in_the_weights_precision_is_no_candidate(tmp_path, monkeypatch, precision, timed_as):
    """The csr K-blocked kernel predicted as 1% of dense: chosen only where the file holds a timing of it in the
    weight's precision (bfloat16: float16's serves), or float32 for a float32 weight."""
    from sparsile.passes.cost_model import _load, coefficients_file

    data = json.loads(coefficients_file().read_text())
    data["coefficients"]["csr"]["blocked"] = {"fixed": 0.0, "per_value": 1e-15, "per_row": 0.0, "per_block": 0.0}
    kept = [m for m in data["measurements"] if (m["format"], m["kernel"]) != ("csr", "blocked")]
    sample = {"format": "csr", "kernel": "blocked", "shape": [256, 512], "rows": 4, "computed_rows": 4, "blocks": 1, "density": 0.1,
              "dtype": "f32", "stored": 13107, "bytes": 65536, "call_seconds": 1e-5, "total_seconds": 1e-4, "seconds": 9e-5}
    data["measurements"] = [*kept, sample, *([{**sample, "dtype": timed_as}] if timed_as else [])]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("SPARSILE_COST_MODEL", str(path))
    _load.cache_clear()
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 512, bias=False).eval()
    pruning.magnitude(layer, 0.9)
    options: dict = {"quantize": precision} if precision.startswith("int") else {}
    dtype = {"f16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    layer = layer.to(dtype)
    x = torch.randn(4, 256, dtype=dtype)
    (row,) = sparsile.analyze(layer, (x,), pass_options={"schedule": {"formats": ["csr"]}}, **options)
    if timed_as:
        assert row.format == "csr" and not row.fallback
    else:
        assert row.format == "dense"
        assert row.fallback == (f"no measured cost of csr (blocked kernel) in {precision} on target cpu (benchmarks/calibrate.py did not "
                                "time it so); request the pattern with sparsity= to store it as csr")
    (requested,) = sparsile.analyze(layer, (x,), sparsity={"weight": "csr"}, pass_options={"schedule": {"formats": ["csr"]}}, **options)
    assert requested.format == "csr"
    (as_f32,) = sparsile.analyze(layer.float(), (x.float(),), pass_options={"schedule": {"formats": ["csr"]}})
    assert as_f32.format == "csr"
    _load.cache_clear()
