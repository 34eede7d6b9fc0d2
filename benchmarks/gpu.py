"""The GPU kernels of every storage format, checked and timed against dense on a CUDA device.

    python benchmarks/gpu.py prepare DIR [--quick]   # here: compile (needs the compiler)
    python benchmarks/gpu.py run DIR OUT             # on the GPU machine: numpy and iree-base-runtime only

``prepare`` builds one ``sparsile.matmul`` per (layer shape, variant, precision, rows) with its
storage as function arguments (a variant is a pruning pattern and the storage it is
held in: :data:`VARIANTS`; ``nmell`` for 2:4, ``bell``'s GEMV at one row and its
gathered-blocks batch matmul at more; a precision is the weight's dtype or its
quantization: :data:`PRECISIONS`), lowers it with the format's own lowering and
compiles it with the ``cuda`` target's flags (weights as arguments: an 11008x4096
fp32 weight is 180 MB, too big to carry as a constant). It also compiles a small
pruned MLP in every format with ``sparsile.compile(target="cuda")`` and saves its
inputs and torch's outputs. ``run`` regenerates the float32 weights from their seeds,
packs them (:mod:`sparsile.passes.ell_storage`, numpy only), checks every kernel
against a float64 product, times sparse and dense side by side with
``iree-benchmark-module``, and writes ``results.json`` plus a markdown table. The
storage of the other precisions (float16, quantized, packed in 32-bit words for
Vulkan) comes from the compiler's packing: ``prepare`` writes it beside the kernel,
with the float64 product of the (dequantized) weight it is checked against. The
dense and sparse runs of one cell are timed back to back; the cost of a call with no
work (a 4-element add) is measured too and reported, not subtracted.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: (out, in) of the layers: Llama-7B's attention projections and its MLP up/gate projection.
SHAPES = ((4096, 4096), (11008, 4096))
ROWS = (1, 4, 16, 64, 256)
#: Variant -> (pruning pattern, storage format, stored as ``schedule`` stores it). The variants not stored as
#: schedule stores them answer a question and are left out of calibrate.py's fit: 2:4 as ELL rows (16-bit
#: columns) against nmell's 8-bit places, and 16x16 blocks with 32-bit columns, which keeps the column gather
#: out of the batch matmul's dispatch on CUDA (IREE then tiles it as a SIMT matmul, not as a reduction).
VARIANTS = {
    "dense": ("dense", "dense", True),
    "u50": ("u50", "ell", True),
    "u70": ("u70", "ell", True),
    "u90": ("u90", "ell", True),
    "2:4": ("2:4", "nmell", True),
    "2:4_ell": ("2:4", "ell", False),
    "b16_90": ("b16_90", "bell", True),
    "b16_90_c32": ("b16_90", "bell", False),
}
QUICK = (((512, 256),), (1, 3), ("dense", "u90", "2:4", "2:4_ell", "b16_90", "b16_90_c32"))
#: Precisions besides float32 (a float16 weight, or a float32 one quantized), and the variants timed in them:
#: every storage as schedule stores it, and dense, the baseline of the same precision.
PRECISIONS = ("f16", "int8", "int4-g128")
PRECISE_VARIANTS = ("dense", "u90", "2:4", "b16_90")
#: IREE 3.13's generic Vulkan target compiles no dense 16- or 8-bit weight (its emulation of narrow storage
#: leaves a vector.bitcast it cannot legalise; sparse storage holds such values in 32-bit words there):
#: on Vulkan the other precisions are compared with dense float32.
DENSE_ONLY_F32 = frozenset({"vulkan"})
#: The pattern a kernel op of each pruning pattern carries.
KERNEL_PATTERN = {"dense": "dense", "u50": "csr", "u70": "csr", "u90": "csr", "2:4": "2:4", "b16_90": "bsr16"}


def _storage_module():
    """:mod:`sparsile.passes.ell_storage` by path: it imports numpy alone, the package does not."""
    return _by_path("ell_storage", ROOT / "passes" / "ell_storage.py")


@functools.cache
def _transfer_module():
    """:mod:`sparsile.runtime.device_transfer` by path (numpy and iree.runtime only), loaded once."""
    return _by_path("device_transfer", ROOT / "runtime" / "device_transfer.py")


def _by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_weight(shape: tuple[int, int], pattern: str, seed: int) -> np.ndarray:
    """A seeded N(0, 1) weight pruned to ``pattern`` by magnitude (blocks by their L1 norm)."""
    w = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    n, k = shape
    a = np.abs(w)
    if pattern == "dense":
        return w
    if pattern.startswith("u"):
        cut = int(a.size * int(pattern[1:]) / 100)
        threshold = np.partition(a.ravel(), cut)[cut]
        return np.where(a >= threshold, w, 0).astype(np.float32)
    if pattern == "2:4":
        groups = a.reshape(n, k // 4, 4)
        drop = np.argsort(groups, axis=2)[:, :, :2]
        keep = np.ones_like(groups, dtype=bool)
        np.put_along_axis(keep, drop, False, axis=2)
        return np.where(keep.reshape(n, k), w, 0).astype(np.float32)
    if pattern == "b16_90":
        norms = a.reshape(n // 16, 16, k // 16, 16).sum(axis=(1, 3))
        cut = int(norms.size * 0.9)
        keep = norms >= np.partition(norms.ravel(), cut)[cut]
        return np.where(np.repeat(np.repeat(keep, 16, axis=0), 16, axis=1), w, 0).astype(np.float32)
    raise ValueError(f"unknown pattern {pattern}")


def pack(weight: np.ndarray, variant: str, es, rows: int, target: str) -> tuple[dict[str, np.ndarray], dict]:
    """The storage of ``variant`` at ``rows`` on ``target`` (``schedule``'s rules, numpy only)."""
    pattern, fmt, _ = VARIANTS[variant]
    if fmt == "dense":
        return {"values": weight}, {}
    if fmt == "ell":
        params = {"width": es.row_width(weight), "col_bits": es.gather_column_bits(weight.shape[1], rows, target)}
        return es.pack_rows(weight, params["width"], params["col_bits"]), params
    if fmt == "nmell":
        n, m = (int(v) for v in KERNEL_PATTERN[pattern].split(":"))
        return es.pack_groups(weight, n, m), {"n": n, "m": m}
    bits = 32 if variant == "b16_90_c32" else es.block_column_bits(weight.shape[1], target)
    params = {"block": 16, "width": es.block_width(weight, 16), "col_bits": bits}
    return es.pack_blocks(weight, 16, params["width"], params["col_bits"]), params


def activations(rows: int, width: int) -> np.ndarray:
    """The seeded ``[rows, width]`` input every kernel is checked and timed with."""
    return np.random.default_rng(7).standard_normal((rows, width), dtype=np.float32)


# --- prepare (needs the compiler) -----------------------------------------------------------


def _pack_precise(weight: np.ndarray, fmt_name: str, precision: str, pattern: str, rows: int, family: str):
    """(storage, params, kernel, stored values, float32 weight it holds) of ``weight`` in ``precision``, as
    ``schedule`` stores it in ``fmt_name`` (a float16 weight, or the float32 one quantized)."""
    from sparsile.dialects.patterns import Pattern
    from sparsile.passes.formats import get_format
    from sparsile.passes.quantization import SCHEMES

    fmt = get_format(fmt_name)
    if precision == "f16":
        weight = weight.astype(np.float16)
    plan = fmt.plan(Pattern.parse(KERNEL_PATTERN[pattern]), weight, rows, family)
    if plan is not None and precision in SCHEMES:
        plan = fmt.quantized_plan(plan, SCHEMES[precision], weight.shape, rows, family)
    if plan is None:
        raise RuntimeError(f"{fmt_name} does not store {pattern} as {precision} on {family} at {rows} rows")
    storage = fmt.pack(weight, plan.params)
    return storage, plan.params, fmt.kernel(plan), fmt.stored_values(storage, plan.params), fmt.unpack(storage, plan.params, weight.shape)




def _kernel_module(fmt: str, params: dict, storage: dict[str, np.ndarray], shape: tuple[int, int], rows: int, pattern: str,
                   family: str) -> bytes:
    from sparsile.mlir import func, ir, new_context, to_bytecode
    from sparsile.passes.kernel_lowering import lower_kernels
    from sparsile.passes.kernel_ops import create

    dtypes = {np.dtype(np.float32): ir.F32Type.get, np.dtype(np.float16): ir.F16Type.get, np.dtype(np.int8): lambda: ir.IntegerType.get_signless(8),
              np.dtype(np.int16): lambda: ir.IntegerType.get_signless(16), np.dtype(np.int32): lambda: ir.IntegerType.get_signless(32)}
    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        x_type = ir.RankedTensorType.get([rows, shape[1]], f32)
        types = [ir.RankedTensorType.get(list(a.shape), dtypes[a.dtype]()) for a in storage.values()]
        with ir.InsertionPoint(module.body):

            @func.FuncOp.from_py_func(x_type, *types, name="main")
            def main(x, *arrays):
                op = create(fmt, dict(zip(storage, arrays)), input=x, result_type=ir.RankedTensorType.get([rows, shape[0]], f32),
                            shape=shape, pattern=KERNEL_PATTERN[pattern], layer="bench", params=params)
                return op.results[0]

        if not lower_kernels(module.operation, family):
            raise RuntimeError(f"{fmt} {shape} rows {rows} did not lower")
        return to_bytecode(module)


def _compile(bytecode: bytes, target: str) -> bytes:
    from sparsile.iree_backend import compile_vmfb, handoff
    from sparsile.targets import resolve_target

    return compile_vmfb(handoff(bytecode, None).bytecode, resolve_target(target).flags)


def _artifacts(out: Path, target: str) -> list[dict]:
    """A pruned MLP with a layer in every pattern, compiled for cuda, with its inputs and torch's outputs."""
    import torch

    sys.path.insert(0, str(ROOT / "examples"))
    from models import EVERY_PATTERN, mlp_every_pattern

    import sparsile

    made = []
    for rows in (1, 16):
        model = mlp_every_pattern((256, 512, 512, 512, 256, 128), block_sparsity=0.9)
        x = torch.randn(rows, 256)
        compiled = sparsile.compile(model, (x,), target=target, cache=False, sparsity=EVERY_PATTERN)
        name = f"mlp_m{rows}"
        compiled.save(out / name)
        np.save(out / name / "input0.npy", x.numpy())
        np.save(out / name / "expected.npy", model(x).detach().numpy())
        made.append({"name": name, "formats": [l.format for l in compiled.report], "patterns": [l.pattern for l in compiled.report],
                     "bytes": len(compiled.vmfb)})
    return made


def prepare(out: Path, quick: bool, target: str) -> None:
    shapes, rows_list, variants = QUICK if quick else (SHAPES, ROWS, tuple(VARIANTS))
    from sparsile.targets import resolve_target

    out.mkdir(parents=True, exist_ok=True)
    es = _storage_module()
    family = resolve_target(target).family
    cases = []
    for si, shape in enumerate(shapes):
        for variant in variants:
            pattern, fmt, scheduled = VARIANTS[variant]
            seed = 1000 * si + list(KERNEL_PATTERN).index(pattern)  # one weight per pattern, whatever its storage
            weight = make_weight(shape, pattern, seed)
            precise = variant in PRECISE_VARIANTS and not (variant == "dense" and family in DENSE_ONLY_F32)
            for precision in ("f32", *(PRECISIONS if precise else ())):
                for rows in rows_list:
                    tag = "" if precision == "f32" else f"_{precision}"
                    name = f"{shape[0]}x{shape[1]}_{variant.replace(':', '_')}{tag}_m{rows}"
                    case: dict = {"name": name, "shape": shape, "variant": variant, "precision": precision, "pattern": pattern, "format": fmt,
                                  "as_scheduled": scheduled, "rows": rows, "seed": seed}
                    if precision == "f32":
                        storage, params = pack(weight, variant, es, rows, family)
                        stored = int(storage["values"].size)
                    else:
                        storage, params, case["kernel"], stored, dequantized = _pack_precise(weight, fmt, precision, pattern, rows, family)
                        np.savez(out / f"{name}.npz", **storage)
                        np.save(out / f"{name}_expected.npy", activations(rows, shape[1]).astype(np.float64) @ dequantized.astype(np.float64).T)
                        case["storage_file"], case["expected_file"] = f"{name}.npz", f"{name}_expected.npy"
                    start = time.perf_counter()
                    module = _kernel_module(fmt, params, storage, shape, rows, pattern, family)
                    (out / f"{name}.vmfb").write_bytes(_compile(module, target))
                    print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
                    cases.append({**case, "params": params, "stored": stored, "storage_bytes": int(sum(a.nbytes for a in storage.values()))})
    (out / "overhead.vmfb").write_bytes(_compile(_OVERHEAD.encode(), target))
    artifacts = _artifacts(out, target)
    resolved = resolve_target(target)
    (out / "cases.json").write_text(json.dumps({"driver": resolved.driver, "family": resolved.family, "cases": cases, "artifacts": artifacts}, indent=1))


_OVERHEAD = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %x, %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}"""


# --- run (on the GPU machine) ---------------------------------------------------------------


def _tool(name: str) -> str:
    import iree._runtime_libs as libs

    return str(Path(libs.__file__).parent / name)


def _bench(vmfb: Path, inputs: list[Path], driver: str) -> float:
    """Median seconds per call over 5 repetitions of iree-benchmark-module on ``driver``."""
    cmd = [_tool("iree-benchmark-module"), f"--device={driver}", f"--module={vmfb}", "--function=main",
           *[f"--input=@{p}" for p in inputs], "--benchmark_repetitions=5", "--benchmark_min_time=0.2s",
           "--benchmark_format=json", "--benchmark_report_aggregates_only=true"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    data = json.loads(result.stdout[result.stdout.index("{"):])
    median = next(b for b in data["benchmarks"] if b.get("aggregate_name") == "median")
    return float(median["real_time"]) * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[median["time_unit"]]


def _call(vmfb: Path, inputs: list[np.ndarray], driver: str, entry: str = "main") -> np.ndarray:
    import iree.runtime as rt

    transfer = _transfer_module()
    config = rt.Config(driver)
    ctx = rt.SystemContext(config=config)
    ctx.add_vm_module(rt.VmModule.copy_buffer(ctx.instance, vmfb.read_bytes()))
    device = config.device
    out = getattr(ctx.modules.module, entry)(*[transfer.to_device(device, a) for a in inputs])
    result = transfer.to_host(device, out)
    del out, device, ctx, config
    return result


def run(directory: Path, out: Path) -> None:
    es = _storage_module()
    meta = json.loads((directory / "cases.json").read_text())
    driver = meta["driver"]
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path("/tmp/sparsile_gpu_inputs")
    scratch.mkdir(exist_ok=True)
    overhead = _bench(directory / "overhead.vmfb", [_save(scratch / "o.npy", np.ones(4, np.float32))], driver)
    results: list[dict] = []
    weights: dict[tuple, tuple] = {}
    for case in meta["cases"]:
        x = activations(case["rows"], case["shape"][1])
        if "storage_file" in case:  # packed by prepare, with the product it must give
            with np.load(directory / case["storage_file"]) as saved:
                storage = {n: saved[n] for n in saved.files}
            paths = [_save(scratch / f"{case['name']}_{n}.npy", a) for n, a in storage.items()]
            want = np.load(directory / case["expected_file"])
        else:
            key = (tuple(case["shape"]), case["variant"], case["seed"], json.dumps(case["params"], sort_keys=True))
            if key not in weights:
                weight = make_weight(key[0], case["pattern"], case["seed"])
                storage, params = pack(weight, case["variant"], es, case["rows"], meta["family"])
                if params != case["params"]:
                    raise SystemExit(f"{case['name']}: packed here with {params}, compiled with {case['params']}")
                paths = [_save(scratch / f"{case['name']}_{n}.npy", a) for n, a in storage.items()]
                weights = {key: (weight, storage, paths)}
            weight, storage, paths = weights[key]
            want = x.astype(np.float64) @ weight.astype(np.float64).T
        x_path = _save(scratch / "x.npy", x)
        got = _call(directory / f"{case['name']}.vmfb", [x, *storage.values()], driver)
        error = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        seconds = _bench(directory / f"{case['name']}.vmfb", [x_path, *paths], driver)
        results.append({**case, "max_scaled_error": error, "seconds": seconds})
        print(f"{case['name']}: {seconds * 1e6:.1f} us, error {error:.2e}", flush=True)
    artifacts = []
    for art in meta["artifacts"]:
        d = directory / art["name"]
        expected, x = np.load(d / "expected.npy"), np.load(d / "input0.npy")
        manifest = json.loads((d / "manifest.json").read_text())
        got = _call(d / "model.vmfb", [x], driver, manifest["entry"])
        record = {**art, "max_abs_error": float(np.max(np.abs(got - expected)))}
        try:  # sparsile's own runtime, where the package is importable (the command lays it out)
            import sparsile.runtime

            model = sparsile.runtime.load(d)
            record["runtime_max_abs_error"] = float(np.max(np.abs(np.asarray(model(x)) - expected)))
            model.release()
        except Exception as err:  # reported, not hidden: the table says the runtime did not run
            record["runtime_error"] = f"{type(err).__name__}: {err}"
        artifacts.append(record)
        print(f"{art['name']} {art['formats']}: {record}", flush=True)
    (out / "results.json").write_text(json.dumps({"machine": _machine(driver), "made": {"command": "python benchmarks/gpu.py run",
                                                  "date": time.strftime("%Y-%m-%d")},
                                                  "overhead_seconds": overhead, "cases": results, "artifacts": artifacts}, indent=1))
    (out / "table.md").write_text(table(results, overhead))
    print(table(results, overhead))


def _machine(driver: str) -> dict:
    try:
        query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True, text=True)
        gpu = query.stdout.strip()
    except OSError:
        gpu = "unknown (no nvidia-smi)"
    import iree.runtime

    return {"gpu": gpu, "driver": driver,
            "iree_runtime": getattr(iree.runtime, "__version__", "unknown")}


def _save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def table(results: list[dict], overhead: float) -> str:
    """Sparse / dense time per (shape, rows, precision), dense in the same precision (with its time, and its time
    over dense float32's; dense float32 itself where the precision has no dense run, marked ``f32``), and the
    storage's bytes over dense's."""
    dense = {(tuple(r["shape"]), r["rows"], r.get("precision", "f32")): r for r in results if r["variant"] == "dense"}
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in results) and v != "dense"]
    lines = [f"call with no work: {overhead * 1e6:.1f} us", "",
             "| layer | M | precision | dense us (of f32) | " + " | ".join(f"{v} ({VARIANTS[v][1]})" for v in variants) + " |",
             "|---|---|---|---|" + "---|" * len(variants)]
    cells_of = sorted({(tuple(r["shape"]), r["rows"], r.get("precision", "f32")) for r in results}, key=lambda c: (c[0], c[1], c[2] != "f32", c[2]))
    for shape, rows, precision in cells_of:
        d = dense.get((shape, rows, precision))
        if d is None:
            d = dense.get((shape, rows, "f32"))
            if d is None:
                continue
            precision = f"{precision} (vs dense f32)"
        cells = []
        for v in variants:
            r = next((r for r in results if tuple(r["shape"]) == shape and r["rows"] == rows and r["variant"] == v
                      and r.get("precision", "f32") == precision.split()[0]), None)
            cells.append("" if r is None else f"{r['seconds'] / d['seconds']:.2f} ({r['storage_bytes'] / d['storage_bytes']:.2f} B)")
        f32 = dense.get((shape, rows, "f32"))
        of_f32 = f" ({d['seconds'] / f32['seconds']:.2f})" if f32 is not None and d is not f32 else ""
        lines.append(f"| {shape[0]}x{shape[1]} | {rows} | {precision} | {d['seconds'] * 1e6:.1f}{of_f32} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("directory")
    p.add_argument("--quick", action="store_true", help="one small shape (checks the script)")
    p.add_argument("--target", default="cuda", help="the target to compile for (vulkan checks the script on lavapipe)")
    r = sub.add_parser("run")
    r.add_argument("directory")
    r.add_argument("out")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(Path(args.directory), args.quick, args.target)
    else:
        run(Path(args.directory), Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
