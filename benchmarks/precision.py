"""Low precision and quantization: one pruned Linear per cell, every dtype, against dense float32 and dense in its dtype.

    python benchmarks/precision.py [--shapes 4096x4096,...] [--m 1,4,16,64] [--dtypes f32,f16,bf16,int8,int4-g128]
                                   [--variants dense,u50,u60,u70,u90,2:4,u50@bitmask] [-o precision.json]

For each layer shape (in x out) and row count M, the layer is pruned per variant and
compiled by sparsile as it schedules it, in each dtype: the model's own float32, float16
or bfloat16 weights, or float32 weights quantized (``quantize="int8"`` / ``"int4-g128"``).
The ``dense`` variant is the unpruned layer with every weight forced dense: in float32
it is the baseline of the first ratio, in each dtype the baseline of the second. A
variant ``VARIANT@FORMAT`` (``u50@bitmask``) stores the pruned layer in that storage
format whatever the schedule would choose. All of a
(shape, M) group's artifacts are timed with ``iree-benchmark-module`` (the dispatches
alone, no Python call) in interleaved rounds and the medians compared; the artifacts'
sizes are compared with the dense float32 one. Prints the tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import pruning  # noqa: E402

import sparsile  # noqa: E402

SHAPES = ("2048x2048", "4096x4096", "4096x11008", "11008x4096")
ROWS = (1, 4, 16, 64)
DTYPES = ("f32", "f16", "bf16", "int8", "int4-g128")
VARIANTS = ("dense", "u50", "u60", "u70", "u90", "2:4")
TORCH_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
BENCHMARK = Path(sys.executable).with_name("iree-benchmark-module")


def layer_for(shape: str, variant: str, dtype: str) -> torch.nn.Linear:
    k, n = (int(v) for v in shape.split("x"))
    torch.manual_seed(0)
    layer = torch.nn.Linear(k, n, bias=False).eval()
    if variant.startswith("u"):
        pruning.magnitude(layer, int(variant[1:]) / 100)
    elif variant == "2:4":
        pruning.n_of_m(layer, 2, 4)
    elif variant != "dense":
        raise ValueError(f"unknown variant {variant}")
    return layer.to(TORCH_DTYPES.get(dtype, torch.float32))


def build(shape: str, variant: str, dtype: str, rows: int, directory: Path) -> dict:
    """Compile one cell and save its artifact; what ran and where it is."""
    pruned, _, forced = variant.partition("@")
    layer = layer_for(shape, pruned, dtype)
    x = torch.randn(rows, layer.in_features, dtype=layer.weight.dtype)
    options: dict = {"cache": False}
    if dtype in ("int8", "int4-g128"):
        options["quantize"] = dtype
    if variant == "dense":
        options["sparsity"] = {"weight": "dense"}
    elif forced:
        options["sparsity"] = {"weight": "2:4" if pruned == "2:4" else "csr"}
        options["pass_options"] = {"schedule": {"formats": [forced]}}
    compiled = sparsile.compile(layer, (x,), **options)
    (report,) = compiled.report
    path = compiled.save(directory / f"{shape}-{variant.replace('@', '-')}-{dtype}-{rows}")
    compiled.release()
    element = {"f16": "f16", "bf16": "bf16"}.get(dtype, "f32")
    return {"shape": shape, "variant": variant, "dtype": dtype, "rows": rows, "format": report.format,
            "bits_per_weight": round(report.bits_per_weight, 3), "vmfb": str(path / "model.vmfb"),
            "bytes": (path / "model.vmfb").stat().st_size, "input": f"{rows}x{layer.in_features}x{element}=0.5"}


def time_us(cell: dict, repetitions: int) -> float:
    """The median time of the module's call, from iree-benchmark-module."""
    out = subprocess.run(
        [str(BENCHMARK), f"--module={cell['vmfb']}", "--device=local-task", "--function=main", f"--input={cell['input']}",
         f"--benchmark_repetitions={repetitions}", "--benchmark_min_time=0.1s"],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if "_median" in l)
    value, unit = re.search(r"([0-9.]+) (us|ms|ns)", line).groups()  # type: ignore[union-attr]
    return float(value) * {"ns": 1e-3, "us": 1.0, "ms": 1e3}[unit]


def run_group(shape: str, rows: int, dtypes: list[str], variants: list[str], rounds: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="sparsile-precision-") as tmp:
        cells = [build(shape, "dense", "f32", rows, Path(tmp))]
        for dtype in dtypes:
            for variant in variants:
                if (variant, dtype) != ("dense", "f32"):
                    print(f"  {shape} M={rows} {dtype} {variant} ...", file=sys.stderr, flush=True)
                    cells.append(build(shape, variant, dtype, rows, Path(tmp)))
        samples: list[list[float]] = [[] for _ in cells]
        for _ in range(rounds):  # interleaved: the machine's drift hits every cell alike
            for cell, times in zip(cells, samples):
                times.append(time_us(cell, 3))
    base = cells[0]
    base_us = statistics.median(samples[0])
    for cell, times in zip(cells, samples):
        cell["us"] = statistics.median(times)
        cell["vs_dense_f32"] = cell["us"] / base_us
        cell["size_vs_dense_f32"] = cell["bytes"] / base["bytes"]
        del cell["vmfb"]
    for cell in cells:
        same = next((c for c in cells if c["dtype"] == cell["dtype"] and c["variant"] == "dense"), None)
        cell["vs_dense_same_dtype"] = cell["us"] / same["us"] if same else None
    return cells


def tables(cells: list[dict], rows: list[int]) -> str:
    out = []
    for key, title in (("vs_dense_f32", "time / dense float32"), ("vs_dense_same_dtype", "time / dense in the same dtype")):
        header = ["shape", "dtype", "variant", *(f"M={m}" for m in rows)]
        lines = [header]
        for shape, dtype, variant in sorted({(c["shape"], c["dtype"], c["variant"]) for c in cells},
                                            key=lambda k: (k[0], DTYPES.index(k[1]), VARIANTS.index(k[2].partition("@")[0]), k[2])):
            row = [shape, dtype, variant]
            for m in rows:
                c = next((c for c in cells if (c["shape"], c["dtype"], c["variant"], c["rows"]) == (shape, dtype, variant, m)), None)
                row.append("" if c is None or c[key] is None else f"{c[key]:.2f}{'' if c['format'] != 'dense' or variant == 'dense' else 'd'}")
            lines.append(row)
        widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
        out.append(f"{title} (d: scheduled dense)")
        out += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in lines]
        out.append("")
    sizes = [c for c in cells if c["rows"] == rows[0]]
    out.append(f"artifact size / dense float32 (M = {rows[0]}): " + ", ".join(
        f"{c['shape']} {c['dtype']} {c['variant']} {c['size_vs_dense_f32']:.3f}" for c in sizes if c["variant"] in ("dense", "u90", "2:4")))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--m", default=",".join(map(str, ROWS)))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "precision.json"))
    args = parser.parse_args(argv)
    rows = [int(m) for m in args.m.split(",")]
    dtypes, variants = args.dtypes.split(","), args.variants.split(",")
    cells: list[dict] = []
    for shape in args.shapes.split(","):
        for m in rows:
            cells += run_group(shape, m, dtypes, variants, args.rounds)
            Path(args.output).write_text(json.dumps({"machine": platform.processor() or platform.machine(), "cells": cells}, indent=1) + "\n")
    print(tables(cells, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
