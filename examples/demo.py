"""`make demo`: compile a pruned MLP with sparsile, run it, check it against torch, print the report.

Every layer of the MLP is pruned differently (unstructured 90%, 2:4, 16x16 blocks,
half the neurons); the report shows what sparsile detected and how it compiles each.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import pruned_models  # noqa: E402

import sparsile  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "out" / "demo"


def main() -> int:
    model, args = pruned_models.mlp(batch=8)

    def progress(stage: str, step: int, total: int, seconds: float | None) -> None:
        if seconds is not None:
            print(f"  [{step}/{total}] {stage:<13} {seconds:6.2f}s")

    print(f"sparsile {sparsile.__version__}: compiling a pruned MLP {tuple(args[0].shape)} for cpu")
    started = time.perf_counter()
    compiled = sparsile.compile(model, args, target="cpu", dump_ir=OUT / "ir", progress=progress)
    print(f"  compiled in {time.perf_counter() - started:.2f}s\n")
    print(compiled.report.table())

    x = torch.randn_like(args[0])
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    error = (got - expected).abs().max().item()
    ok = torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    print(f"\nmax |sparsile - torch| = {error:.2e}  ({'OK' if ok else 'MISMATCH'})")

    artifact = compiled.save(OUT / "artifact")
    report = compiled.report.write_html(OUT / "report.html")
    print(f"artifact:  {artifact}/model.vmfb + manifest.json")
    print(f"IR dumps:  {OUT / 'ir'}/  (one NN-<stage>.mlir per stage)")
    print(f"report:    {report}")
    compiled.release()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
