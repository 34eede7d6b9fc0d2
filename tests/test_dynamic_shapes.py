"""Dynamic row counts: one artifact serves every size within its bounds, in every format that runs there."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pruning
import pytest
import torch
from conftest import HOST_BITMASK, LACKS_BITMASK
from torch.export import Dim

import sparsile
from sparsile.errors import ArgumentError, ModelImportError, ModelSpecError


class Block(torch.nn.Module):
    """Two layers reading [batch, sequence, features]: their rows are batch x sequence."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(100, 128)
        self.fc2 = torch.nn.Linear(128, 48)
        pruning.magnitude(self.fc1, 0.8)
        pruning.n_of_m(self.fc2, 2, 4)
        self.eval()

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def _compile(model, formats, high, **options):
    x = torch.randn(2, 3, 100)
    batch = Dim("batch", min=1, max=high)
    return sparsile.compile(model, (x,), cache=False, dynamic_shapes={"x": {0: batch}}, sparsity={"fc1": "csr", "fc2": "2:4"},
                            pass_options={"schedule": {"formats": formats}}, **options)


@pytest.mark.parametrize("formats, high", [(["csr"], 11), (["bitmask"], 2), (["nm", "csr"], 11)], ids=["csr", "bitmask", "nm-csr"])
def test_one_artifact_serves_every_size_in_its_bounds(formats, high):
    model = Block()
    compiled = _compile(model, formats, high)
    (spec,) = compiled.manifest.inputs
    assert spec.shape == (-1, 3, 100) and spec.bounds == ((1, high), (3, 3), (100, 100))
    if formats == ["bitmask"] and not HOST_BITMASK:
        assert all(layer.format == "dense" and layer.fallback.endswith(LACKS_BITMASK) for layer in compiled.report)
    else:
        assert all(layer.format in formats for layer in compiled.report)
    for batch in sorted({1, high // 2 + 1, high}):  # rows 3 .. 3 * high, odd ones among them
        x = torch.randn(batch, 3, 100)
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(compiled(x), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ArgumentError, match=rf"argument 0 \(x\): expected float32\[1..{high}, 3, 100\], got float32\[{high + 1}, 3, 100\]"):
        compiled(torch.randn(high + 1, 3, 100))


def test_quantized_dynamic_rows_match_the_scheme():
    model = Block()
    compiled = _compile(model, ["csr"], 11, quantize="int8")
    for batch in (1, 5, 11):
        x = torch.randn(batch, 3, 100)
        reference = Block().double()
        with torch.no_grad():
            from sparsile.passes.quantization import quantize, scheme

            for name in ("fc1", "fc2"):
                weight = getattr(model, name).weight.detach().numpy()
                getattr(reference, name).weight.copy_(torch.from_numpy(quantize(weight, scheme("int8")).dequantized()).double())
            expected = reference(x.double())
        torch.testing.assert_close(compiled(x).double(), expected, rtol=1e-4, atol=1e-5)


def test_an_exported_program_brings_its_own_bounds_and_the_stock_runtime_checks_them(tmp_path):
    model = Block()
    program = torch.export.export(model, (torch.randn(2, 3, 100),), dynamic_shapes={"x": {0: Dim("b", min=2, max=6)}})
    compiled = sparsile.compile(program, cache=False, sparsity={"fc1": "csr"}, pass_options={"schedule": {"formats": ["csr"]}})
    assert compiled.report["fc1"].format == "csr"
    assert compiled.manifest.inputs[0].bounds[0] == (2, 6)
    directory = compiled.save(tmp_path / "art")
    tool = str(__import__("pathlib").Path(sys.executable).with_name("iree-run-module"))
    for batch in (4, 9):
        np.save(tmp_path / "x.npy", np.random.randn(batch, 3, 100).astype(np.float32))
        result = subprocess.run([tool, f"--module={directory / 'model.vmfb'}", "--device=local-task", "--function=main",
                                 f"--input=@{tmp_path / 'x.npy'}"], capture_output=True, text=True)
        if batch <= 6:
            assert result.returncode == 0, result.stderr
        else:  # 27 rows: more than the kernels were compiled for; the module says which layer
            assert result.returncode != 0 and "layer 'fc1.weight' was compiled for at most 18 rows" in result.stdout + result.stderr


def test_a_dynamic_dimension_needs_a_maximum():
    with pytest.raises(ModelImportError, match=r"dimension 0 of input 'x' is dynamic without an upper bound; give it one"):
        sparsile.compile(Block(), (torch.randn(2, 3, 100),), cache=False, dynamic_shapes={"x": {0: Dim("batch", min=1)}})


def test_dynamic_shapes_apply_to_modules_only():
    program = torch.export.export(Block(), (torch.randn(2, 3, 100),))
    with pytest.raises(ModelSpecError, match="an ExportedProgram brings its own dynamic shapes"):
        sparsile.compile(program, cache=False, dynamic_shapes={"x": {0: Dim("b", max=4)}})


def test_torch_compile_builds_one_dynamic_artifact_for_a_dynamic_graph(monkeypatch):
    import sparsile.api

    model = Block()
    fast = torch.compile(model, backend="sparsile", options={"sparsity": {"fc1": "csr"}, "cache": False})
    first = torch.randn(2, 3, 100)
    torch._dynamo.mark_dynamic(first, 0, min=2, max=8)
    compiles = []
    original = sparsile.api.compile

    def counting(*args, **kwargs):
        compiles.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(sparsile.api, "compile", counting)
    with torch.no_grad():
        for batch in (2, 5, 8):
            x = first if batch == 2 else torch.randn(batch, 3, 100)
            torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-5)
    assert len(compiles) == 1, "one artifact for every size of the dynamic graph"


def test_a_format_that_cannot_run_every_size_is_not_chosen():
    compiled = _compile(Block(), ["bitmask"], 11)  # bitmask's kernel takes at most 8 rows; fc1 sees 3..33
    layer = compiled.report["fc1"]
    assert layer.format == "dense"
    reason = "no storage format for csr runs on target cpu:host at 3..33 rows (compiled for 4, 8, 16, 32, 33)"
    assert layer.fallback == (f"{reason} (bitmask has no cpu kernel for 16 rows)" if HOST_BITMASK else f"{reason} {LACKS_BITMASK}")
