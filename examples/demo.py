"""`make demo`: compile a pruned MLP with sparsile, run it, check it against torch.

Prints where the artifact and the per-stage IR dumps were written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import models  # noqa: E402

import sparsile  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "out" / "demo"


def magnitude_prune_(linear: torch.nn.Linear, sparsity: float) -> None:
    """Zero the smallest-magnitude weights of ``linear`` in place."""
    with torch.no_grad():
        w = linear.weight
        k = int(w.numel() * sparsity)
        threshold = w.abs().flatten().kthvalue(k).values
        w.mul_(w.abs() > threshold)


def main() -> int:
    model, args = models.mlp(batch=8)
    for layer in model.layers[:-1]:
        magnitude_prune_(layer, 0.9)

    def progress(stage: str, step: int, total: int, seconds: float | None) -> None:
        if seconds is not None:
            print(f"  [{step}/{total}] {stage:<10} {seconds:6.2f}s")

    print(f"sparsile {sparsile.__version__}: compiling a pruned MLP {tuple(args[0].shape)} for cpu")
    started = time.perf_counter()
    compiled = sparsile.compile(model, args, target="cpu", dump_ir=OUT / "ir", progress=progress)
    print(f"  compiled in {time.perf_counter() - started:.2f}s")

    x = torch.randn_like(args[0])
    got, expected = compiled(x), model(x).detach()
    error = (got - expected).abs().max().item()
    ok = torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    print(f"  max |sparsile - torch| = {error:.2e}  ({'OK' if ok else 'MISMATCH'})")

    artifact = compiled.save(OUT / "artifact")
    print(f"artifact:  {artifact}/model.vmfb + manifest.json")
    print(f"IR dumps:  {OUT / 'ir'}/  (one NN-<stage>.mlir per stage)")
    compiled.release()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
