"""Generate text with a compiled decoder LLM, dense and pruned, and print decode tokens/s.

    python examples/generate.py                       # Llama-style, hidden 1024, 4 layers, 70% pruned
    python examples/generate.py --hidden 2048 --layers 2 --pruning 2:4 --quantize int8

The model is a Hugging Face LlamaForCausalLM built from a config (random weights, no
download). Every decoder projection is pruned by magnitude (or 2:4); the LM head and the
embeddings stay dense. One artifact serves every prompt length up to max_seq_len.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import torch
import transformers

import sparsile

sys.path.insert(0, str(Path(__file__).parent))
import pruning  # noqa: E402


def build(hidden: int, layers: int, vocab: int) -> transformers.LlamaForCausalLM:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 11 // 4,
                                      num_hidden_layers=layers, num_attention_heads=hidden // 64,
                                      num_key_value_heads=max(1, hidden // 256), eos_token_id=None)
    return transformers.LlamaForCausalLM(config).eval()


def decode_rate(gen: sparsile.runtime.CausalLM, prompt: torch.Tensor, tokens: int, repeats: int = 3) -> tuple[torch.Tensor, float]:
    """The generated ids and the best decode tokens/s of a few runs."""
    gen.generate(prompt, max_new_tokens=4)  # loads the weights and runs each function once
    best = 0.0
    for _ in range(repeats):
        out = gen.generate(prompt, max_new_tokens=tokens)
        best = max(best, gen.stats.decode_tokens_per_second)
    return out, best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--pruning", default="0.7", help="a fraction of weights to zero by magnitude, or 2:4")
    parser.add_argument("--quantize", choices=["int8", "int4-g128"], default=None)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per generate")
    parser.add_argument("--max-seq-len", type=int, default=128)
    args = parser.parse_args()

    model = build(args.hidden, args.layers, args.vocab)
    prompt = torch.randint(0, args.vocab, (1, 12))
    options = {"max_seq_len": args.max_seq_len, "prefill_len": 32, "quantize": args.quantize}

    dense = sparsile.compile_causal_lm(model, **options)
    dense_ids, dense_rate = decode_rate(dense, prompt, args.tokens)
    with torch.no_grad():
        expected = model.generate(prompt, max_new_tokens=args.tokens, do_sample=False)
    same = "" if args.quantize else f", tokens {'equal to' if dense_ids.tolist() == expected.tolist() else 'DIFFERENT from'} HF generate"

    for layer in (m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and name != "lm_head"):
        if args.pruning == "2:4":
            pruning.n_of_m(layer, 2, 4)
        else:
            pruning.magnitude(layer, float(args.pruning))
    pruned = sparsile.compile_causal_lm(model, **options)
    _, pruned_rate = decode_rate(pruned, prompt, args.tokens)
    summary = pruned.report.summary()

    precision = args.quantize or "float32"
    print(f"Llama-style decoder: hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}, {precision}, batch 1")
    print(f"  dense                  {dense_rate:7.1f} tokens/s{same}")
    print(f"  pruned {args.pruning:<15} {pruned_rate:7.1f} tokens/s  ({pruned_rate / dense_rate:.2f}x dense; "
          f"{summary['sparse_weights']} of {summary['weights']} weights stored sparse)")
    storage = Counter(row.format for row in pruned.report if row.function == "decode")
    print("  decode stores its weights as " + ", ".join(f"{fmt} x{count}" for fmt, count in storage.most_common())
          + " (print(pruned.report.table()) for every layer)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
