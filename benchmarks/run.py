"""The speed harness: torch eager, IREE dense and sparsile side by side, as ratios.

    python benchmarks/run.py [--quick] [--native] [-o results.json]

For every model x batch x sparsity variant it compiles the pruned model twice
with the same target and flags, once with sparsity off (IREE dense: every weight
stays dense) and once with sparsile, then times torch eager, IREE dense and
sparsile (and ``native-cpu`` with --native) back to back, in interleaved rounds,
so that machine noise hits all columns alike. It prints medians and the ratio
sparsile / IREE dense (lower is better) and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
import models  # noqa: E402
import pruning  # noqa: E402

import sparsile  # noqa: E402

VARIANTS = ("dense", "u50", "u70", "u90", "u95", "2:4", "b16_75", "b16_90", "struct50")
QUICK_VARIANTS = ("dense", "u90", "2:4", "b16_90", "struct50")


@dataclass
class Case:
    model: str
    batch: int
    variant: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    ratio: float | None = None
    formats: list[str] = field(default_factory=list)
    max_error: float | None = None


def mlp(batch: int) -> tuple[torch.nn.Module, torch.Tensor, list[torch.nn.Linear], list[torch.nn.Linear]]:
    torch.manual_seed(0)
    model = models.MLP((1024, 4096, 4096, 1024)).eval()
    layers = list(model.layers)
    return model, torch.randn(batch, 1024), layers, layers[:2]


def bert_block(batch: int) -> tuple[torch.nn.Module, torch.Tensor, list[torch.nn.Linear], list[torch.nn.Linear]]:
    torch.manual_seed(0)
    model = models.EncoderBlock(hidden=768, heads=12, ffn=3072).eval()
    layers = [model.qkv, model.proj, model.fc1, model.fc2]
    return model, torch.randn(batch, 128, 768), layers, [model.fc1]


class _Hidden(torch.nn.Module):
    """A Hugging Face model's last hidden state (the benchmark times the tensor, not the output dataclass)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids).last_hidden_state


def gpt2(batch: int) -> tuple[torch.nn.Module, torch.Tensor, list[torch.nn.Module], list[torch.nn.Module]]:
    """HF GPT-2 (n_embd 768, 2 layers, random init) at sequence 128: its Conv1D weights are [in, out]."""
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(n_embd=768, n_layer=2, n_head=12, n_positions=128, vocab_size=8192, bos_token_id=0, eos_token_id=None,
                                     attn_implementation="eager")
    model = _Hidden(transformers.GPT2Model(config)).eval()
    blocks = model.model.h
    layers = [m for block in blocks for m in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj)]
    return model, torch.randint(0, config.vocab_size, (batch, 128)), layers, [block.mlp.c_fc for block in blocks]


MODELS: dict[str, tuple[Callable, tuple[int, ...]]] = {"mlp": (mlp, (1, 32)), "bert": (bert_block, (1, 8)), "gpt2": (gpt2, (1,))}


def prune(variant: str, layers: list[torch.nn.Linear], ffn: list[torch.nn.Linear]) -> None:
    """Apply ``variant`` to the model's linear layers (struct50: half the FFN neurons)."""
    if variant == "dense":
        return
    if variant == "struct50":
        for layer in ffn:
            pruning.neurons(layer, 0.5)
        return
    for layer in layers:
        if variant.startswith("u"):
            pruning.magnitude(layer, int(variant[1:]) / 100)
        elif variant == "2:4":
            pruning.n_of_m(layer, 2, 4)
        elif variant.startswith("b16_"):
            pruning.blocks(layer, int(variant[4:]) / 100, 16)


def median_ms(fn: Callable[[], object], seconds: float) -> list[float]:
    """Per-call times (ms) of ``fn`` over about ``seconds``."""
    fn()
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 3:
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def run_case(case: Case, rounds: int, seconds: float, native: bool, flags: tuple[str, ...] = ()) -> None:
    build, _ = MODELS[case.model]
    model, x, layers, ffn = build(case.batch)
    prune(case.variant, layers, ffn)
    with torch.no_grad():
        expected = model(x)
    dense = sparsile.compile(model, (x,), pass_options={"detect-sparsity": {"patterns": []}}, iree_flags=flags)
    sparse = sparsile.compile(model, (x,), iree_flags=flags)
    contenders: dict[str, Callable[[], object]] = {
        "eager": lambda: model(x),
        "iree_dense": lambda: dense(x),
        "sparsile": lambda: sparse(x),
    }
    if native:
        native_model = sparsile.compile(model, (x,), target="native-cpu")
        contenders["native"] = lambda: native_model(x)
    case.formats = [layer.format for layer in sparse.report]
    case.max_error = float((sparse(x) - expected).abs().max())
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
    columns = ["model", "batch", "variant", "eager ms", "IREE dense ms", "sparsile ms", "ratio"]
    if any("native" in c.timings_ms for c in cases):
        columns.insert(6, "native ms")
    rows = [columns]
    for c in cases:
        row = [c.model, str(c.batch), c.variant]
        row += [f"{c.timings_ms['eager']:.3f}", f"{c.timings_ms['iree_dense']:.3f}", f"{c.timings_ms['sparsile']:.3f}"]
        if "native ms" in columns:
            row.append(f"{c.timings_ms.get('native', float('nan')):.3f}")
        row.append(f"{c.ratio:.2f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer variants and shorter timing")
    parser.add_argument("--native", action="store_true", help="add a native-cpu (MLIR sparsifier) column")
    parser.add_argument("--models", default="mlp,bert", help="comma-separated subset of: mlp, bert, gpt2")
    parser.add_argument("--variants", help=f"comma-separated subset of: {', '.join(VARIANTS)}")
    parser.add_argument("--iree-flag", action="append", default=[], help="extra iree-compile flag for both compiles")
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results.json"), help="JSON file to write")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    variants = args.variants.split(",") if args.variants else (QUICK_VARIANTS if args.quick else VARIANTS)
    rounds, seconds = (2, 0.3) if args.quick else (3, 0.6)
    cases = [
        Case(model, batch, variant)
        for model in args.models.split(",")
        for batch in MODELS[model][1]
        for variant in variants
    ]
    for i, case in enumerate(cases, start=1):
        print(f"[{i}/{len(cases)}] {case.model} b{case.batch} {case.variant} ...", file=sys.stderr, flush=True)
        run_case(case, rounds, seconds, args.native, tuple(args.iree_flag))
    print(table(cases))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "cases": [asdict(c) for c in cases]}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
