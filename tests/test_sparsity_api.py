"""User intent and detection through the public API, and numerics of every format."""

from __future__ import annotations

import pruning
import pytest
import torch
from conftest import HOST_BITMASK, LACKS_BITMASK
from torch.nn.utils import prune

import sparsile
from sparsile.errors import PipelineError


def small_mlp(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.GELU(), torch.nn.Linear(128, 32)
    ).eval()
    return model, torch.randn(5, 64)


def formats(compiled_or_report) -> dict[str, str]:
    """The storage format each layer is compiled in (after scheduling)."""
    report = compiled_or_report.report if hasattr(compiled_or_report, "report") else compiled_or_report
    return {layer.name: layer.format for layer in report}


def patterns(report) -> dict[str, str]:
    """The pattern detection (or the user) assigned to each layer."""
    return {layer.name: layer.pattern for layer in report}


@pytest.mark.parametrize(
    "prune_fn,expected,rows,storage",
    [
        (lambda l: pruning.magnitude(l, 0.9), "csr", 5, "csr"),
        (lambda l: pruning.n_of_m(l, 2, 4), "2:4", 1, "nm"),
        (lambda l: pruning.n_of_m(l, 2, 4), "2:4", 33, "csr"),
        (lambda l: pruning.blocks(l, 0.75, 16), "bsr16", 5, "csr"),
        (lambda l: pruning.neurons(l, 0.5), "channels", 5, "channels"),
        (lambda l: pruning.magnitude(l, 0.6), "csr", 5, "bitmask"),
        (lambda l: pruning.n_of_m(l, 2, 4), "2:4", 1, "bitmask"),
        (lambda l: pruning.blocks(l, 0.75, 16), "bsr16", 1, "bsr"),
        (lambda l: pruning.blocks(l, 0.75, 16), "bsr16", 33, "bsr"),
    ],
    ids=["unstructured", "2:4-batch1", "2:4-batched", "bsr16", "neurons", "unstructured-bitmask", "2:4-bitmask", "bsr16-batch1", "bsr16-blocks"],
)
def test_each_pattern_runs_in_its_storage_and_matches_eager(prune_fn, expected, rows, storage):
    model, x = small_mlp()
    x = torch.randn(rows, 64)
    prune_fn(model[2])
    # Requested (never scheduled dense), in the storage under test.
    compiled = sparsile.compile(model, (x,), sparsity={"2": expected}, pass_options={"schedule": {"formats": [storage]}})
    assert patterns(compiled.report)["2.weight"] == expected
    if storage == "bitmask" and not HOST_BITMASK:
        assert formats(compiled)["2.weight"] == "dense"
        assert compiled.report["2"].fallback.endswith(LACKS_BITMASK)
    else:
        assert formats(compiled)["2.weight"] == storage
        assert f'format = "{storage}"' in compiled.ir("kernels")
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_overrides_win_over_detection():
    model, x = small_mlp()
    pruning.n_of_m(model[0], 2, 4)
    pruning.magnitude(model[2], 0.8)
    compiled = sparsile.compile(model, (x,), sparsity={"0": "csr", "2.weight": "dense", "4": "csr"})
    assert patterns(compiled.report) == {"0.weight": "csr", "2.weight": "dense", "4.weight": "csr"}
    stored = formats(compiled)
    assert stored["2.weight"] == "dense" and {stored["0.weight"], stored["4.weight"]} <= {"csr", "bitmask"}  # formats that hold csr
    assert {l.name: l.source for l in compiled.report} == {"0.weight": "override", "2.weight": "override", "4.weight": "override"}
    assert compiled.report["0"].detected == "2:4"
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_override_that_does_not_hold_names_the_layer():
    model, x = small_mlp()
    with pytest.raises(PipelineError, match=r"layer '2.weight': requested 2:4 but row 0, columns 0..3 hold 4 nonzeros"):
        sparsile.compile(model, (x,), sparsity={"2": "2:4"})


def test_override_of_unknown_layer_lists_the_layers():
    model, x = small_mlp()
    with pytest.raises(PipelineError, match=r"sparsity override for 'fc9' names no weight; weights: 0.weight, 2.weight, 4.weight"):
        sparsile.analyze(model, (x,), sparsity={"fc9": "csr"})


def test_bad_pattern_text():
    model, x = small_mlp()
    with pytest.raises(sparsile.SparsileError, match=r"sparsity override for '2': unknown sparsity pattern 'diagonal'"):
        sparsile.analyze(model, (x,), sparsity={"2": "diagonal"})
    with pytest.raises(sparsile.SparsileError, match=r"sparsity= takes a dict of layer name -> pattern, got list"):
        sparsile.analyze(model, (x,), sparsity=["2:4"])
    assert sparsile.analyze(model, (x,), sparsity=None)["2"].pattern == "dense"  # None: no overrides


def test_torch_prune_masks_are_intent():
    model, x = small_mlp()
    prune.l1_unstructured(model[2], "weight", amount=0.2)  # below min-sparsity, but the user pruned it
    prune.ln_structured(model[0], "weight", amount=0.5, n=2, dim=0)
    report = sparsile.analyze(model, (x,))
    assert report["2"].source == "pruned" and report["2"].pattern == "csr"
    # 20% unstructured does not pay: the schedule keeps it dense and says why.
    assert report["2"].format == "dense" and report["2"].fallback.startswith("predicted")
    assert report["0"].source == "pruned" and report["0"].format == "channels"
    compiled = sparsile.compile(model, (x,))
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_torch_sparse_layouts_are_intent():
    model, x = small_mlp()
    expected = model(x).detach()
    with torch.no_grad():
        w0 = model[0].weight.clone()
        w0[w0.abs() < 0.05] = 0
        model[0].weight = torch.nn.Parameter(w0.to_sparse_csr(), requires_grad=False)
        w2 = model[2].weight.clone()
        w2[:, 32:96] = 0
        model[2].weight = torch.nn.Parameter(w2.to_sparse_bsr((16, 16)), requires_grad=False)
    expected = model(x)
    compiled = sparsile.compile(model, (x,))
    assert patterns(compiled.report)["0.weight"] == "csr" and compiled.report["0"].source == "declared"
    assert patterns(compiled.report)["2.weight"] == "bsr16" and compiled.report["2"].source == "declared"
    assert formats(compiled)["2.weight"] in ("bsr", "csr", "bitmask"), "a format holding blocks"
    assert model[0].weight.layout is torch.sparse_csr, "the user's model keeps its sparse weights"
    torch.testing.assert_close(compiled(x), expected, rtol=1e-4, atol=1e-5)


def test_min_sparsity_and_patterns_options():
    model, x = small_mlp()
    pruning.magnitude(model[2], 0.5)
    assert patterns(sparsile.analyze(model, (x,)))["2.weight"] == "csr"
    strict = sparsile.analyze(model, (x,), pass_options={"detect-sparsity": {"min-sparsity": 0.6}})
    assert patterns(strict)["2.weight"] == "dense"
    pruning.n_of_m(model[0], 2, 4)
    assert patterns(sparsile.analyze(model, (x,)))["0.weight"] == "2:4"
    only_csr = sparsile.analyze(model, (x,), pass_options={"detect-sparsity": {"patterns": ["csr"]}})
    assert patterns(only_csr)["0.weight"] == "csr"


def test_conv_filters_removed_are_compacted(models):
    model, args = models.cnn()
    with torch.no_grad():
        model.features[4].weight[::2] = 0  # half the filters of the second conv
    compiled = sparsile.compile(model, args)
    layer = compiled.report["features.4"]
    assert layer.detected.startswith("channels; 16/32 rows empty") and not layer.fallback
    # 16 filters computed, plus at most one for the removed filters whose batch norm shift survives ReLU.
    assert layer.stored_values <= 17 * 144 and "compacted" in compiled.ir("kernels")
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


def test_stages_show_encodings_and_kernels(tmp_path):
    model, x = small_mlp()
    pruning.n_of_m(model[0], 2, 4)
    pruning.blocks(model[2], 0.75, 16)
    # Requested, so that these small layers are stored sparse whatever the cost model predicts.
    compiled = sparsile.compile(model, (x,), dump_ir=tmp_path, sparsity={"0": "2:4", "2": "bsr16"})
    annotated = (tmp_path / "01-annotated.mlir").read_text()
    assert "structured[2, 4]" in annotated and "d0 floordiv 16 : dense, d1 floordiv 16 : compressed" in annotated
    kernels = (tmp_path / "02-kernels.mlir").read_text()
    assert '"sparsile.matmul"' in kernels and 'pattern = "2:4"' in kernels and 'pattern = "bsr16"' in kernels
    assert "#sparse_tensor.encoding" not in kernels
    iree_input = compiled.ir("iree-input")
    assert '"sparsile.' not in iree_input, "no sparsile op reaches IREE (only marker attributes)"
    assert "sparsile.kernel = @sparsile_kernel_" in iree_input, "the sparse layers run as hand-written dispatches"
