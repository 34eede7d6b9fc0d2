"""Compile time and peak memory of a large decoder: weights go to a parameter archive, never into the IR given to IREE.

    python benchmarks/compile_memory.py                       # ~1.0B parameters: Llama-style, hidden 2048, 20 layers
    python benchmarks/compile_memory.py --layers 2            # a quick check of the script

A LlamaForCausalLM is built from a config (random init, float32) and compiled with
``sparsile.compile_causal_lm`` for ``cpu``. It prints the weights' bytes, the wall time
of the compile, and the peak resident memory: of this process (``ru_maxrss``: the model,
the IR and everything the compile holds) and of the process tree (sampled every 0.2 s:
this process plus iree-compile and any other child), both as multiples of the weights'
bytes. The torch model itself is one of those multiples.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from pathlib import Path

import torch
import transformers

import sparsile


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (from /proc)."""
    total = 0
    try:
        total = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += tree_rss(int(child))
    except (OSError, ValueError):
        pass
    return total


class PeakSampler(threading.Thread):
    """The largest resident size of this process tree seen while it runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss(os.getpid()))
            self.stop.wait(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--ffn", type=int, default=5632)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--max-seq-len", type=int, default=2048)
    parser.add_argument("--prefill-len", type=int, default=128)
    parser.add_argument("--save", metavar="DIR", help="also save the artifact there (and say how large it is)")
    args = parser.parse_args()

    sampler = PeakSampler()
    sampler.start()
    started = time.perf_counter()
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.ffn,
                                      num_hidden_layers=args.layers, num_attention_heads=args.heads,
                                      num_key_value_heads=args.kv_heads, max_position_embeddings=args.max_seq_len)
    model = transformers.LlamaForCausalLM(config).eval()
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    count = sum(p.numel() for p in model.parameters())
    built = time.perf_counter() - started
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{count / 1e9:.3f}B parameters, {weights / 2**30:.2f} GiB float32; built in {built:.0f} s, "
          f"process at {before / 2**30:.2f} GiB", flush=True)

    def progress(stage: str, step: int, total: int, seconds: float | None) -> None:
        if seconds is not None:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            print(f"  {stage:<13} {seconds:6.1f} s   peak so far {rss / 2**30:5.2f} GiB", flush=True)

    started = time.perf_counter()
    gen = sparsile.compile_causal_lm(model, args.max_seq_len, prefill_len=args.prefill_len, cache=False, progress=progress)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    archive = gen.parameter_files["model"].stat().st_size
    print(f"compile: {seconds:.0f} s ({seconds / 60:.1f} min); .vmfb {len(gen.vmfb) / 2**20:.1f} MiB, archive {archive / 2**30:.2f} GiB")
    print(f"peak resident: process {peak / 2**30:.2f} GiB = {peak / weights:.2f}x the weights; "
          f"process tree (sampled) {sampler.peak / 2**30:.2f} GiB = {sampler.peak / weights:.2f}x")
    if args.save:
        out = gen.save(args.save, include_ir=False)
        print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
