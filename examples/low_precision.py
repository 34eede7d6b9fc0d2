"""A 50%-pruned MLP in float16, and quantized to int8 and int4: what each stores and how close it stays.

    python examples/low_precision.py

Prints, per precision, the storage each layer got, its bits per weight, the artifact's
size and the largest difference from the float32 model.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import pruning  # noqa: E402

import sparsile  # noqa: E402


def main() -> int:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.GELU(), torch.nn.Linear(4096, 1024)).eval()
    for layer in (model[0], model[2]):
        pruning.magnitude(layer, 0.5)  # what SparseGPT/Wanda-style one-shot pruning leaves
    x = torch.randn(1, 1024)
    with torch.no_grad():
        expected = model(x)
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in {
            "float32": lambda: sparsile.compile(model, (x,)),
            "float16": lambda: sparsile.compile(copy.deepcopy(model).half(), (x.half(),)),
            "int8": lambda: sparsile.compile(model, (x,), quantize="int8"),
            "int4-g128": lambda: sparsile.compile(model, (x,), quantize="int4-g128"),
        }.items():
            compiled = build()
            size = (compiled.save(Path(tmp) / name) / "model.vmfb").stat().st_size
            got = compiled(x.half() if name == "float16" else x).float()
            layers = ", ".join(f"{l.name} {l.format} {l.bits_per_weight:.1f} bits/weight" for l in compiled.report)
            print(f"{name:>10}: {size / 2**20:5.2f} MiB, max |diff| {float((got - expected).abs().max()):.1e}; {layers}")
            compiled.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
