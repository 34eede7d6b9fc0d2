"""Every target compiles here; only cpu runs (GPU targets run only where a device exists)."""

from __future__ import annotations

import re

import pytest

import sparsile

GPU_TARGETS = ["cuda", "rocm", "vulkan"]


@pytest.mark.parametrize("target", GPU_TARGETS)
@pytest.mark.parametrize("factory", ["mlp", "cnn", "encoder_block"])
def test_gpu_targets_compile(models, factory, target):
    model, args = getattr(models, factory)()
    compiled = sparsile.compile(model, args, target=target)
    assert len(compiled.vmfb) > 1000
    expected_driver = {"cuda": "cuda", "rocm": "hip", "vulkan": "vulkan"}[target]
    assert compiled.manifest.target["driver"] == expected_driver
    assert any(flag.startswith("--iree-hal-target-device=") for flag in compiled.manifest.iree_flags)


@pytest.mark.parametrize("target", GPU_TARGETS)
def test_sparse_mlp_in_every_format_compiles_for_gpus(target):
    import torch
    from models import EVERY_PATTERN, mlp_every_pattern

    compiled = sparsile.compile(mlp_every_pattern(), (torch.randn(8, 64),), target=target, sparsity=EVERY_PATTERN)
    report = list(compiled.report)
    # The report says what runs there: the GPU storage formats, no fallback.
    assert [(l.pattern, l.format, l.fallback) for l in report][:4] == [
        ("csr", "ell", ""), ("2:4", "nmell", ""), ("bsr16", "bell", ""), ("channels", "channels", "")]
    assert len(compiled.vmfb) > 1000


def test_named_chips_reach_iree(models):
    model, args = models.mlp()
    compiled = sparsile.compile(model, args, target="vulkan:rdna3")
    assert "--iree-vulkan-target=rdna3" in compiled.manifest.iree_flags
    compiled = sparsile.compile(model, args, target="cpu:znver4")
    assert compiled.manifest.target["chip"] == "znver4"


def _has_driver(driver: str) -> bool:
    try:
        from sparsile.runtime import get_device

        get_device(driver)
        return True
    except sparsile.RuntimeLoadError:
        return False


@pytest.mark.parametrize("target,driver", [("cuda", "cuda"), ("vulkan", "vulkan")])
def test_gpu_targets_run_where_a_device_exists(models, target, driver):
    if not _has_driver(driver):
        pytest.skip(f"no {driver} device on this machine")
    import torch

    model, args = models.mlp()
    compiled = sparsile.compile(model, args, target=target)
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-3, atol=1e-4)


def _gpu_layer(pattern: str):
    import pruning
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(1024, 1024, bias=False).eval()
    if pattern == "u90":
        pruning.magnitude(layer, 0.9)
    elif pattern == "2:4":
        pruning.n_of_m(layer, 2, 4)
    elif pattern == "b16_90":
        pruning.blocks(layer, 0.9, 16)
    return layer


#: The artifact-size bounds (of the dense artifact) the GPU storage formats must meet.
SIZE_BOUNDS = {"u90": ("csr", "ell", 0.35), "2:4": ("2:4", "nmell", 0.8), "b16_90": ("bsr16", "bell", 0.25)}


@pytest.mark.parametrize("rows", [1, 8])
@pytest.mark.parametrize("target", GPU_TARGETS)
def test_gpu_artifacts_keep_the_sparse_storage(target, rows):
    """The IR handed to IREE holds the packed storage, not the dense weight, and the artifact shrinks."""
    import torch

    x = (torch.randn(rows, 1024),)
    dense = sparsile.compile(_gpu_layer("dense"), x, target=target, cache=False)
    for pattern, (requested, fmt, bound) in SIZE_BOUNDS.items():
        compiled = sparsile.compile(_gpu_layer(pattern), x, target=target, cache=False, sparsity={"weight": requested})
        (row,) = compiled.report
        assert row.format == fmt and not row.fallback, row
        handoff = compiled.ir("iree-handoff")
        assert "tensor<1024x1024xf32>" not in handoff, f"{pattern}: a dense copy of the weight reached IREE"
        assert "tensor.extract" in handoff
        ratio = len(compiled.vmfb) / len(dense.vmfb)
        assert ratio <= bound, f"{pattern} as {fmt}: artifact {ratio:.2f} of dense (bound {bound})"


@pytest.mark.parametrize("target", GPU_TARGETS)
def test_gpu_targets_compact_pruned_neurons(target):
    """Half the hidden neurons of a 768-3072-768 MLP removed: compacted on GPU targets as on cpu (half the artifact)."""
    import pruning
    import torch
    from models import MLP

    torch.manual_seed(0)
    model = MLP((768, 3072, 768)).eval()
    pruning.neurons(model.layers[0], 0.5)
    x = (torch.randn(8, 768),)
    compiled = sparsile.compile(model, x, target=target, cache=False)
    # The dense second layer keeps its row; compaction took half its input columns.
    assert [(row.pattern, row.format, row.fallback) for row in compiled.report] == [("channels", "channels", ""), ("dense", "dense", "")]
    assert compiled.report["layers.1"].sparse_bytes == compiled.report["layers.1"].dense_bytes / 2
    handoff = compiled.ir("iree-handoff")
    assert "tensor<768x1536xf32>" in handoff and "tensor<1536x768xf32>" in handoff
    assert not re.search(r"tensor<(\d+x)*3072x", handoff), "a 3072-wide tensor reached IREE"
    uncompacted = sparsile.compile(model, x, target=target, cache=False, pass_options={"detect-sparsity": {"min-sparsity": 1.0}})
    ratio = len(compiled.vmfb) / len(uncompacted.vmfb)
    assert ratio <= 0.55, f"compacted artifact {ratio:.2f} of the uncompacted one"


def test_gpu_storage_is_not_guessed_without_measured_costs():
    """Until the GPU kernels are timed, a detected pattern stays dense on GPU targets, saying why."""
    import torch

    compiled = sparsile.compile(_gpu_layer("u90"), (torch.randn(4, 1024),), target="cuda", cache=False)
    (row,) = compiled.report
    assert row.pattern == "csr" and row.format == "dense"
    assert row.fallback == ("no measured cost of ell or dense on target gpu (benchmarks/gpu.py times them on a GPU); "
                            "request the pattern with sparsity= to store it as ell")
    assert row.speedup == "none" and row.predicted_us == 0.0


@pytest.mark.parametrize("target", GPU_TARGETS)
def test_n_of_m_weights_are_stored_as_values_and_8bit_places_on_gpus(target):
    """Without measured GPU costs schedule keeps the candidate storing the fewest bytes: nmell for every N:M
    weight at any row count (2:4 in fp32: 4 + 1 bytes per kept value, 0.625 of dense; ell's columns cost more)."""
    import pruning
    import torch

    for nm, ratio in (("2:4", 0.625), ("4:8", 0.625), ("1:4", 0.3125)):
        n, m = (int(v) for v in nm.split(":"))
        torch.manual_seed(0)
        layer = torch.nn.Linear(512, 256, bias=False).eval()
        pruning.n_of_m(layer, n, m)
        for rows in (1, 8):
            (row,) = sparsile.analyze(layer, (torch.randn(rows, 512),), target=target, sparsity={"weight": nm})
            assert (row.format, row.fallback) == ("nmell", ""), (nm, rows, row)
            assert row.sparse_bytes / row.dense_bytes == ratio, (nm, rows, row)
