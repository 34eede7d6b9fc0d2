"""Block-sparse weights on the CPU: sparsile's ``bsr`` kernel against gathered column blocks + a batch matmul.

    python benchmarks/blocks_cpu.py
    python benchmarks/blocks_cpu.py --shapes 768x3072 --m 1,16,197 --variants b16_90

Issue 11 asks for both forms of a block kernel to be measured per shape. For each layer
(in x out), block variant and row count it compiles the pruned ``Linear`` three ways for
the host CPU, with the same IREE flags, and times them in interleaved rounds:

- ``dense``: every weight dense (sparsity detection off);
- ``bsr``: the ``bsr`` storage and its hand-written block kernels (one index per block,
  register tiles), as ``schedule`` stores a block pattern on ``cpu``;
- ``gathered``: the ``bell`` storage that the GPU targets use, lowered as they receive it
  (each block row's activation columns gathered once, then a ``linalg.batch_matmul`` over
  block rows; a GEMV at one row) and compiled by IREE's CPU backend.

It prints each form's time / dense and checks both against torch. ``bell`` is not a CPU
candidate of ``schedule``; this script is how one would find out whether it should be.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "examples"))

from run import median_ms  # noqa: E402
from sweep import pruned_layer  # noqa: E402

import sparsile  # noqa: E402

FORMS = ("dense", "bsr", "gathered")
#: IREE's CPU backend refuses the large vectors it makes of some GPU-shaped contractions unless told not to.
GATHERED_FLAGS = ("--iree-llvmcpu-fail-on-large-vector=false",)


def compile_forms(layer: torch.nn.Linear, x: torch.Tensor, variant: str) -> dict[str, sparsile.CompiledModel]:
    """The three compiled forms of ``layer`` at ``x``'s row count."""
    block = variant[1:].split("_")[0]
    requested = {"weight": f"bsr{block}"}
    dense = sparsile.compile(layer, (x,), pass_options={"detect-sparsity": {"patterns": []}}, iree_flags=GATHERED_FLAGS, cache=False)
    bsr = sparsile.compile(layer, (x,), sparsity=requested, pass_options={"schedule": {"formats": ["bsr"]}}, iree_flags=GATHERED_FLAGS, cache=False)
    text = sparsile.lower(layer, (x,), "iree-input", target="cuda", sparsity=requested, elide_limit=None, cache=False)
    if "bell" not in sparsile.analyze(layer, (x,), target="cuda", sparsity=requested)["weight"].format:
        raise RuntimeError("the cuda lowering did not store the weight as bell")
    gathered = sparsile.compile(text, target="cpu", from_stage="iree-input", iree_flags=GATHERED_FLAGS, cache=False)
    if bsr.report["weight"].format != "bsr":
        raise RuntimeError(f"the bsr form was stored as {bsr.report['weight'].format}")
    return {"dense": dense, "bsr": bsr, "gathered": gathered}


def run_cell(shape: str, variant: str, rows: int, rounds: int, seconds: float) -> dict:
    layer = pruned_layer(shape, variant)
    x = torch.randn(rows, layer.in_features)
    forms = compile_forms(layer, x, variant)
    samples: dict[str, list[float]] = {name: [] for name in FORMS}
    errors = {}
    try:
        with torch.no_grad():
            expected = layer(x)
            for name, compiled in forms.items():
                errors[name] = float((compiled(x) - expected).abs().max())
            for _ in range(rounds):
                for name, compiled in forms.items():
                    samples[name].extend(median_ms(lambda run=compiled: run(x), seconds))
    finally:
        for compiled in forms.values():
            compiled.release()
    ms = {name: statistics.median(times) for name, times in samples.items()}
    return {"shape": shape, "variant": variant, "rows": rows, "ms": ms, "max_error": errors,
            "bsr": ms["bsr"] / ms["dense"], "gathered": ms["gathered"] / ms["dense"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default="768x3072,3072x768,1024x4096")
    parser.add_argument("--m", default="1,16,64,197")
    parser.add_argument("--variants", default="b16_90,b16_75")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "blocks_cpu.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    cells = []
    print(f"{'shape':>10} {'variant':>8} {'M':>4} {'dense ms':>9} {'bsr':>6} {'gathered':>9} {'max error':>10}")
    for shape in args.shapes.split(","):
        for variant in args.variants.split(","):
            for rows in (int(m) for m in args.m.split(",")):
                cell = run_cell(shape, variant, rows, args.rounds, args.seconds)
                cells.append(cell)
                print(f"{shape:>10} {variant:>8} {rows:>4} {cell['ms']['dense']:9.3f} {cell['bsr']:6.2f} {cell['gathered']:9.2f} "
                      f"{max(cell['max_error'].values()):10.2e}", flush=True)
    Path(args.output).write_text(json.dumps(cells, indent=1) + "\n")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
