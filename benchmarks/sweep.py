"""The shape sweep: one pruned Linear layer per cell, sparsile vs the same layer forced dense.

    python benchmarks/sweep.py [--m 1,3,31,...] [--shapes 384x1536,...] [--variants u90,2:4,...] [-o sweep.json]

A cell is a layer shape (in x out), a row count M and a pruning variant. The layer is
compiled twice with the same compiler and flags, once with every weight forced dense
and once as sparsile schedules it; both are timed in interleaved rounds and the ratio
sparsile / dense is printed as a table (rows: shape and variant; columns: M) and saved
as JSON with the storage format each cell ran. A ratio above 1 means the schedule chose
a kernel slower than dense.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import pruning  # noqa: E402
from run import median_ms  # noqa: E402

import sparsile  # noqa: E402

ROWS = (1, 2, 3, 7, 16, 31, 33, 50, 64, 100, 128, 197, 256, 384, 512)
SHAPES = ("384x1536", "1536x384", "768x3072", "3072x768", "1024x4096", "2048x2048")
VARIANTS = ("u50", "u70", "u90", "u95", "2:4", "b16_75", "b16_90", "b32_90", "rows50")


def pruned_layer(shape: str, variant: str) -> torch.nn.Linear:
    k, n = (int(v) for v in shape.split("x"))
    torch.manual_seed(0)
    layer = torch.nn.Linear(k, n).eval()
    if variant.startswith("u"):
        pruning.magnitude(layer, int(variant[1:]) / 100)
    elif variant == "2:4":
        pruning.n_of_m(layer, 2, 4)
    elif variant.startswith("b"):
        block, sparsity = variant[1:].split("_")
        pruning.blocks(layer, int(sparsity) / 100, int(block))
    elif variant == "rows50":
        pruning.neurons(layer, 0.5)
    else:
        raise ValueError(f"unknown variant {variant}")
    return layer


def run_cell(shape: str, variant: str, rows: int, rounds: int, seconds: float) -> dict:
    layer = pruned_layer(shape, variant)
    x = torch.randn(rows, layer.in_features)
    dense = sparsile.compile(layer, (x,), pass_options={"detect-sparsity": {"patterns": []}})
    sparse = sparsile.compile(layer, (x,))
    samples: dict[str, list[float]] = {"dense": [], "sparse": []}
    with torch.no_grad():
        expected = layer(x)
        error = float((sparse(x) - expected).abs().max())
        for _ in range(rounds):
            samples["dense"].extend(median_ms(lambda: dense(x), seconds))
            samples["sparse"].extend(median_ms(lambda: sparse(x), seconds))
    (report,) = sparse.report
    for compiled in (dense, sparse):
        compiled.release()
    dense_ms, sparse_ms = statistics.median(samples["dense"]), statistics.median(samples["sparse"])
    return {"shape": shape, "variant": variant, "rows": rows, "dense_ms": dense_ms, "sparse_ms": sparse_ms,
            "ratio": sparse_ms / dense_ms, "format": report.format, "max_error": error}


def table(cells: list[dict], rows: list[int]) -> str:
    header = ["shape", "variant", *(f"M={m}" for m in rows)]
    lines = [header]
    keys = sorted({(c["shape"], c["variant"]) for c in cells}, key=lambda k: (SHAPES.index(k[0]) if k[0] in SHAPES else 99, k[1]))
    by_key = {(c["shape"], c["variant"], c["rows"]): c for c in cells}
    for shape, variant in keys:
        row = [shape, variant]
        for m in rows:
            c = by_key.get((shape, variant, m))
            row.append("" if c is None else f"{c['ratio']:.2f}{'' if c['format'] != 'dense' else 'd'}")
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in lines) + "\n(d: scheduled dense)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", default=",".join(map(str, ROWS)), help="comma-separated row counts")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated in x out layer shapes")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated pruning variants")
    parser.add_argument("--quick", action="store_true", help="shorter timing")
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "sweep.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    rows = [int(m) for m in args.m.split(",")]
    rounds, seconds = (2, 0.15) if args.quick else (3, 0.3)
    todo = [(s, v, m) for s in args.shapes.split(",") for v in args.variants.split(",") for m in rows]
    cells = []
    for i, (shape, variant, m) in enumerate(todo, start=1):
        print(f"[{i}/{len(todo)}] {shape} {variant} M={m} ...", file=sys.stderr, flush=True)
        cells.append(run_cell(shape, variant, m, rounds, seconds))
    print(table(cells, rows))
    out = Path(args.output)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "cells": cells}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
