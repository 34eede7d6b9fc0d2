"""Compiled models agree with torch eager on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsile


@pytest.mark.parametrize("factory", ["mlp", "cnn", "encoder_block"])
def test_matches_torch_eager(models, factory):
    model, args = getattr(models, factory)()
    compiled = sparsile.compile(model, args, target="cpu")
    with torch.no_grad():
        expected = model(*args)
    got = compiled(*args)
    assert isinstance(got, torch.Tensor)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # Fresh inputs, not the ones the model was traced with.
    fresh = tuple(torch.randn_like(a) for a in args)
    torch.testing.assert_close(compiled(*fresh), model(*fresh).detach(), rtol=1e-4, atol=1e-5)


def test_numpy_in_numpy_out(models):
    model, (x,) = models.mlp()
    compiled = sparsile.compile(model, (x,))
    got = compiled(x.numpy())
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-4, atol=1e-5)


class TwoOutputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x, y):
        h = self.fc(x)
        return {"sum": h + y, "act": (torch.tanh(h), h.argmax(dim=-1))}


def test_output_structure_and_integer_results():
    torch.manual_seed(1)
    model = TwoOutputs().eval()
    x, y = torch.randn(3, 8), torch.randn(3, 4)
    compiled = sparsile.compile(model, (x, y))
    got, expected = compiled(x, y), model(x, y)
    assert set(got) == {"sum", "act"}
    torch.testing.assert_close(got["sum"], expected["sum"].detach())
    torch.testing.assert_close(got["act"][0], expected["act"][0].detach())
    assert got["act"][1].dtype == torch.int64
    assert torch.equal(got["act"][1], expected["act"][1])
    assert [s.name for s in compiled.manifest.inputs] == ["x", "y"]


class WithBuffer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
        self.register_buffer("scale", torch.linspace(0.5, 2.0, 8), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


def test_non_persistent_buffers_are_constants():
    torch.manual_seed(2)
    model = WithBuffer().eval()
    x = torch.randn(2, 8)
    compiled = sparsile.compile(model, (x,))
    torch.testing.assert_close(compiled(x), model(x).detach())
    assert 'sparsile.name = "scale"' in compiled.ir("linalg")
    assert 'sparsile.name = "fc.weight"' in compiled.ir("linalg")


def test_training_mode_warns_and_compiles_eval(models):
    model, args = models.cnn()
    model.train()
    with pytest.warns(UserWarning, match="training mode.*model.eval"):
        compiled = sparsile.compile(model, args)
    assert model.training, "the user's module mode is restored"
    model.eval()
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


def test_exported_program_input(models):
    model, args = models.mlp()
    program = torch.export.export(model, args)
    compiled = sparsile.compile(program)
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


def test_mlir_text_with_resources_and_other_entry_name(models, tmp_path):
    from torch_mlir import fx

    model, args = models.mlp()
    module = fx.export_and_import(model, *args, output_type="linalg-on-tensors", func_name="forward")
    path = tmp_path / "mlp.mlir"
    path.write_text(str(module))
    assert "dense_resource<torch_tensor" in path.read_text()
    compiled = sparsile.compile(str(path))
    assert compiled.manifest.entry == "forward"
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)
    # The weights became readable dense constants named after their resources.
    assert "sparsile.name = \"torch_tensor_" in compiled.ir("linalg")


@pytest.mark.parametrize("quantize", ["int8", "int4-g128"])
@pytest.mark.parametrize("rows", [1, 2, 5])  # 4, 2 and 1 accumulators per row
def test_quantized_dense_weights_compile_and_match_their_dequantized_model(quantize, rows):
    """quantize= turns dense weights into kernels too (form-kernels{all-weights}); an unpruned model compiles and
    matches the model whose weights are the scheme's dequantized ones. In features: 300 (two int4 groups of 128
    and three tiles past them, scaled apart), 256 (two whole groups), 128 (one)."""
    import copy

    from sparsile.passes.quantization import SCHEMES
    from sparsile.passes.quantization import quantize as quantized

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(300, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 32)).eval()
    x = torch.randn(rows, 300)
    compiled = sparsile.compile(model, (x,), quantize=quantize, cache=False)
    assert [row.format for row in compiled.report] == ["dense", "dense", "dense"]
    assert all(quantize in row.storage for row in compiled.report)
    reference = copy.deepcopy(model).double()
    with torch.no_grad():
        for layer in (reference[0], reference[2], reference[4]):
            layer.weight.copy_(torch.from_numpy(quantized(layer.weight.float().numpy(), SCHEMES[quantize]).dequantized()))
        expected = reference(x.double())
    torch.testing.assert_close(compiled(x).double(), expected, rtol=1e-4, atol=1e-5)
