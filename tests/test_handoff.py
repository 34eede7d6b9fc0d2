"""The iree-handoff stage: what iree-compile receives is dumped, and a compile can start from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pruning
import torch

import sparsile

HANDOFF_INPUT = Path(__file__).parent / "ir" / "iree_handoff.mlir"


def test_a_hand_written_dispatch_runs():
    compiled = sparsile.compile(HANDOFF_INPUT, from_stage="iree-input", cache=False)
    x = np.arange(8, dtype=np.float32)
    np.testing.assert_array_equal(compiled(x), x * np.arange(1, 9, dtype=np.float32))
    assert "flow.dispatch @scale_kernel_exe::@scale_kernel" in compiled.ir("iree-handoff")


def test_a_compile_can_start_from_the_handoff(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 16)).eval()
    pruning.magnitude(model[0], 0.9)
    x = torch.randn(1, 64)
    handoff = sparsile.lower(model, (x,), "iree-handoff", elide_limit=None)
    assert "stream.executable" in handoff and "flow.dispatch" in handoff
    (tmp_path / "handoff.mlir").write_text(handoff)
    compiled = sparsile.compile(tmp_path / "handoff.mlir", from_stage="iree-handoff", cache=False)
    assert [s.describe() for s in compiled.manifest.inputs] == ["float32[1, 64]"]
    assert compiled.manifest.entry == "main"
    torch.testing.assert_close(torch.from_numpy(compiled(x.numpy())), model(x).detach(), rtol=1e-4, atol=1e-5)
