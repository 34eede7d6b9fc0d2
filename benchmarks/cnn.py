"""Pruned ResNet-style CNNs: sparsile against IREE dense with the same flags, as ratios.

    python benchmarks/cnn.py [--quick] [--batches 1,8] [--variants u90,channels50] [-o cnn_results.json]

The model is :class:`examples.models.ResNet` on 56x56 RGB images: a 3x3 stem and 3x3
basic blocks (folded batch norms, ReLU, residual adds; the first block of each later stage
strided, with a 1x1 shortcut), global average pooling and a classifier. Variants prune
every convolution: ``u90`` zeroes 90% of each filter's weights by magnitude
(``torch.nn.utils.prune.l1_unstructured``), ``channels50`` removes half of each
convolution's output channels (``torch.nn.utils.prune.ln_structured``, L2, dim 0). Each
pruned model is compiled twice with the same target and flags, with sparsity detection
off (IREE dense: every weight dense) and by sparsile; torch eager, IREE dense and sparsile
are timed in interleaved rounds, and the table gives the medians, the time ratio and the
artifact size ratio (sparsile / IREE dense, lower is better) with the storage of each
convolution. ``--quick`` uses narrower stages (32 and 64 channels, one block each) and
shorter timing. The machines are shared: repeat a cell before trusting a difference.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import models  # noqa: E402
import pruning  # noqa: E402
from run import median_ms  # noqa: E402

import sparsile  # noqa: E402

VARIANTS = ("u90", "channels50")
SIZE = 56


@dataclass
class Case:
    batch: int
    variant: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    ratio: float | None = None
    artifact_ratio: float | None = None
    formats: dict[str, int] = field(default_factory=dict)
    max_error: float | None = None


def pruned_resnet(variant: str, widths: tuple[int, ...], blocks: int) -> nn.Module:
    """The benchmark's ResNet with every convolution pruned as ``variant`` says."""
    model, _ = models.resnet(batch=1, size=SIZE, widths=widths, blocks=blocks)
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        if variant == "u90":
            torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.9)
            torch.nn.utils.prune.remove(conv, "weight")
        elif variant == "channels50":
            pruning.filters(conv, 0.5)
        elif variant != "dense":
            raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)} or dense")
    return model


def run_case(case: Case, widths: tuple[int, ...], blocks: int, rounds: int, seconds: float) -> None:
    model = pruned_resnet(case.variant, widths, blocks)
    torch.manual_seed(1)
    x = torch.randn(case.batch, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = model(x)
    dense = sparsile.compile(model, (x,), pass_options={"detect-sparsity": {"patterns": []}}, cache=False)
    sparse = sparsile.compile(model, (x,), cache=False)
    case.formats = dict(Counter(layer.format for layer in sparse.report if layer.name != "head.weight"))
    case.max_error = float((sparse(x) - expected).abs().max())
    case.artifact_ratio = len(sparse.vmfb) / len(dense.vmfb)
    xn = x.numpy()
    contenders = {"eager": lambda: model(x), "iree_dense": lambda: dense(xn), "sparsile": lambda: sparse(xn)}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    with torch.no_grad():
        for _ in range(rounds):
            for name, fn in contenders.items():
                samples[name].extend(median_ms(fn, seconds))
    case.timings_ms = {name: statistics.median(values) for name, values in samples.items()}
    case.ratio = case.timings_ms["sparsile"] / case.timings_ms["iree_dense"]
    for compiled in (dense, sparse):
        compiled.release()


def table(cases: list[Case]) -> str:
    columns = ["batch", "variant", "eager ms", "IREE dense ms", "sparsile ms", "ratio", "artifact", "convolutions stored as"]
    rows = [columns]
    for c in cases:
        stored = ", ".join(f"{count} {fmt}" for fmt, count in sorted(c.formats.items()))
        rows.append([str(c.batch), c.variant, f"{c.timings_ms['eager']:.2f}", f"{c.timings_ms['iree_dense']:.2f}",
                     f"{c.timings_ms['sparsile']:.2f}", f"{c.ratio:.2f}", f"{c.artifact_ratio:.2f}", stored])
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    return "\n".join("  ".join(cell.rjust(w) if i < len(columns) - 1 else cell for i, (cell, w) in enumerate(zip(r, widths))) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="narrower stages (32, 64 channels, one block each), shorter timing")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of: {', '.join(VARIANTS)}")
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "cnn_results.json"), help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    widths, blocks = ((32, 64), 1) if args.quick else ((64, 128), 2)
    rounds, seconds = (2, 0.3) if args.quick else (3, 0.6)
    cases = [Case(int(batch), variant) for batch in args.batches.split(",") for variant in args.variants.split(",")]
    for i, case in enumerate(cases, start=1):
        print(f"[{i}/{len(cases)}] b{case.batch} {case.variant} ...", file=sys.stderr, flush=True)
        run_case(case, widths, blocks, rounds, seconds)
    print(f"ResNet widths {widths}, {blocks} block(s) per stage, {SIZE}x{SIZE} input; ratio and artifact: sparsile / IREE dense")
    print(table(cases))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "widths": widths, "blocks": blocks,
                               "cases": [asdict(c) for c in cases]}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
