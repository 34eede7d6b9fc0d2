"""torch.compile with the sparsile backend: one line, then time it against eager.

    python examples/torch_compile.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import models  # noqa: E402
import pruning  # noqa: E402


def median_ms(fn, x: torch.Tensor, repeats: int = 50) -> float:
    for _ in range(5):
        fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    torch.manual_seed(0)
    model = models.MLP((1024, 4096, 4096, 1024)).eval()
    for layer in model.layers:
        pruning.magnitude(layer, 0.9)
    x = torch.randn(1, 1024)

    compiled = torch.compile(model, backend="sparsile")  # the one line

    with torch.no_grad():
        error = (compiled(x) - model(x)).abs().max().item()
        eager = median_ms(model, x)
        sparse = median_ms(compiled, x)
    print(f"MLP 1024-4096-4096-1024, 90% unstructured, batch 1 (max error {error:.1e})")
    print(f"  torch eager       {eager:8.3f} ms")
    print(f"  sparsile backend  {sparse:8.3f} ms   ({eager / sparse:.2f}x eager)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
