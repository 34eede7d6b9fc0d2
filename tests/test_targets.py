"""Every target compiles here; only cpu runs (GPU targets run only where a device exists)."""

from __future__ import annotations

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
    import pruning
    import torch
    from models import MLP

    torch.manual_seed(0)
    model = MLP((64, 128, 128, 128, 64, 32)).eval()
    first, second, third, fourth, _ = model.layers
    pruning.magnitude(first, 0.9)
    pruning.n_of_m(second, 2, 4)
    pruning.blocks(third, 0.75, 16)
    pruning.neurons(fourth, 0.5)
    compiled = sparsile.compile(model, (torch.randn(8, 64),), target=target)
    report = list(compiled.report)
    assert [l.pattern for l in report][:4] == ["csr", "2:4", "bsr16", "channels"]
    # The report says what runs there: no sparse kernel of these formats on GPUs yet.
    family = "vulkan" if target == "vulkan" else "gpu"
    for layer in report[:3]:
        assert layer.format == "dense" and layer.fallback.endswith(f"runs on target {family} at 8 rows"), layer
    assert report[3].format == "channels"
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
