"""Artifact size on the GPU targets: a pruned 768-3072-768 MLP per pattern over the dense one.

    python benchmarks/gpu_sizes.py [--targets cuda,rocm,vulkan] [--rows 8]

Compile-only (no GPU needed): both layers are pruned (u90 by magnitude, 2:4, 16x16 blocks at
90%) and requested as that pattern, compiled for each target, and the ``.vmfb`` sizes compared
with the unpruned model's on the same target. Prints one line per target with the storage each
layer got. ``tests/test_targets.py`` asserts the bounds on a smaller layer.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import pruning  # noqa: E402
from models import MLP  # noqa: E402

import sparsile  # noqa: E402

#: variant -> (the pattern requested, how the layers are pruned).
VARIANTS: dict[str, tuple[str, Callable[[torch.nn.Module], None]]] = {
    "u90": ("csr", lambda layer: pruning.magnitude(layer, 0.9)),
    "2:4": ("2:4", lambda layer: pruning.n_of_m(layer, 2, 4)),
    "b16_90": ("bsr16", lambda layer: pruning.blocks(layer, 0.9, 16)),
}


def pruned(variant: str) -> MLP:
    torch.manual_seed(0)
    model = MLP((768, 3072, 768)).eval()
    if variant != "dense":
        for layer in model.layers:
            VARIANTS[variant][1](layer)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="cuda,rocm,vulkan")
    parser.add_argument("--rows", type=int, default=8)
    args = parser.parse_args(argv)
    x = (torch.randn(args.rows, 768),)
    for target in args.targets.split(","):
        dense = len(sparsile.compile(pruned("dense"), x, target=target, cache=False).vmfb)
        cells = []
        for variant, (pattern, _) in VARIANTS.items():
            compiled = sparsile.compile(pruned(variant), x, target=target, cache=False, sparsity={"layers.0": pattern, "layers.1": pattern})
            formats = "/".join(row.format for row in compiled.report)
            cells.append(f"{variant} {len(compiled.vmfb) / dense:.2f} ({formats})")
        print(f"{target}: dense {dense / 1e6:.1f} MB; " + "; ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
