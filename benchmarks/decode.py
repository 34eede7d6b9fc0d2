"""Batch-1 decode tokens/s of a Llama-style decoder, dense vs pruned, with and without quantization.

    python benchmarks/decode.py                                  # hidden 2048, 2 layers, GQA 32/8 heads, vocab 32000
    python benchmarks/decode.py --variants dense,u70,u70+head --quantize none --rounds 5

Every variant is a Hugging Face LlamaForCausalLM built from the same config and seed,
pruned in place: ``u50``/``u70`` zero that fraction of each decoder projection by
magnitude, ``2:4`` keeps two of every four; ``+head`` prunes the LM head the same way
(pruning methods usually leave it dense). Each is compiled with
``sparsile.compile_causal_lm`` as sparsile schedules it (``dense`` is the unpruned
model) in float32 and with ``quantize=`` int8 / int4-g128, and saved. The artifacts are
then timed in interleaved rounds, each loaded afresh: one greedy ``generate`` of
``--tokens`` new tokens after a short prompt; the rate counts the decode steps only. It
prints median tokens/s, the ratio to dense float32 and to dense in the same precision,
the bytes the decode function's weights hold (what a step streams), and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import transformers

import sparsile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import pruning  # noqa: E402


def build(args: argparse.Namespace) -> transformers.LlamaForCausalLM:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.ffn, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, num_key_value_heads=args.kv_heads, max_position_embeddings=args.max_seq_len,
        eos_token_id=None,
    )
    return transformers.LlamaForCausalLM(config).eval()


def prune(model: torch.nn.Module, variant: str) -> None:
    pattern, _, head = variant.partition("+")
    if pattern == "dense":
        return
    for name, layer in model.named_modules():
        if not isinstance(layer, torch.nn.Linear) or (name == "lm_head" and head != "head"):
            continue
        if pattern == "2:4":
            pruning.n_of_m(layer, 2, 4)
        else:
            pruning.magnitude(layer, int(pattern.removeprefix("u")) / 100)


def compile_variant(args: argparse.Namespace, variant: str, quant: str, directory: Path) -> dict[str, Any]:
    model = build(args)
    prune(model, variant)
    started = time.perf_counter()
    gen = sparsile.compile_causal_lm(model, args.max_seq_len, prefill_len=args.prefill_len, cache=False,
                                     quantize=None if quant == "none" else quant)
    seconds = time.perf_counter() - started
    gen.save(directory, include_ir=False)
    decode = [row for row in gen.report if row.function == "decode"]
    formats = Counter(row.format for row in decode)
    return {
        "variant": variant,
        "quantize": quant,
        "compile_s": seconds,
        "decode_weight_bytes": sum(row.sparse_bytes for row in decode),
        "dense_weight_bytes": sum(row.dense_bytes for row in decode),
        "archive_bytes": (directory / "model.irpa").stat().st_size,
        "decode_formats": dict(formats),
        "rates": [],
    }


def time_once(directory: Path, prompt: torch.Tensor, tokens: int) -> float:
    gen = sparsile.load(directory)
    try:
        gen.generate(prompt, max_new_tokens=4)  # weights loaded (and packed by IREE's initializers), each function run once
        gen.generate(prompt, max_new_tokens=tokens)
        return gen.stats.decode_tokens_per_second
    finally:
        gen.release()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--ffn", type=int, default=5632)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--prefill-len", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="dense,u50,u70,2:4,u70+head")
    parser.add_argument("--quantize", default="none,int8,int4-g128")
    parser.add_argument("-o", "--output", default=str(Path(__file__).with_name("decode.json")))
    args = parser.parse_args()
    variants = args.variants.split(",")
    quants = args.quantize.split(",")

    prompt = torch.randint(0, args.vocab, (1, 8), generator=torch.Generator().manual_seed(1))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sparsile-decode-") as tmp:
        dirs = []
        for quant in quants:
            for variant in variants:
                directory = Path(tmp) / f"{quant}-{variant.replace(':', '_').replace('+', '_')}"
                results.append(compile_variant(args, variant, quant, directory))
                dirs.append(directory)
                print(f"compiled {variant:>9} {quant:>9} in {results[-1]['compile_s']:.0f} s", flush=True)
        for round_index in range(args.rounds):
            for result, directory in zip(results, dirs):
                result["rates"].append(time_once(directory, prompt, args.tokens))
            print(f"round {round_index + 1}/{args.rounds} done", flush=True)

    for result in results:
        result["tokens_per_s"] = statistics.median(result["rates"])
    base = {r["quantize"]: r["tokens_per_s"] for r in results if r["variant"] == "dense"}
    f32 = base.get("none")
    print(f"\nLlama-style decoder: hidden {args.hidden}, FFN {args.ffn}, {args.layers} layers, {args.heads}/{args.kv_heads} heads, "
          f"vocab {args.vocab}; batch 1, {args.tokens} new tokens, median of {args.rounds} rounds")
    print(f"{'variant':>9} {'quantize':>9} {'tokens/s':>9} {'/dense f32':>10} {'/dense same':>11} {'decode MB':>9}  decode storage")
    for r in results:
        same = r["tokens_per_s"] / base[r["quantize"]] if r["quantize"] in base else float("nan")
        vs_f32 = r["tokens_per_s"] / f32 if f32 else float("nan")
        formats = ", ".join(f"{k} x{v}" for k, v in sorted(r["decode_formats"].items(), key=lambda kv: -kv[1]))
        print(f"{r['variant']:>9} {r['quantize']:>9} {r['tokens_per_s']:9.1f} {vs_f32:10.2f} {same:11.2f} "
              f"{r['decode_weight_bytes'] / 1e6:9.0f}  {formats}")
    Path(args.output).write_text(json.dumps({"config": vars(args), "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
