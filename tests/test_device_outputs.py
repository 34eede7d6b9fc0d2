"""Results kept on the device: call_on_device chains models without host copies, on CPU and Vulkan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsile
from sparsile.errors import ArgumentError


def _vulkan_problem() -> str | None:
    from sparsile.runtime import get_device

    try:
        get_device("vulkan")
    except sparsile.RuntimeLoadError as err:
        return str(err)
    return None


needs_vulkan = pytest.mark.skipif((problem := _vulkan_problem()) is not None, reason=f"no Vulkan device here ({problem})")


def _second_model():
    from models import MLP

    torch.manual_seed(1)
    return MLP((32, 48, 16)).eval(), (torch.randn(8, 32),)


def _two_stage(target: str):
    from models import mlp_every_pattern

    first = mlp_every_pattern()  # 64 -> 32
    second, second_args = _second_model()
    x = torch.randn(8, 64)
    with torch.no_grad():
        expected = second(first(x))
    a = sparsile.compile(first, (x,), target=target, cache=False)
    b = sparsile.compile(second, second_args, target=target, cache=False)
    return a, b, x, expected


def _check_chain(target: str) -> None:
    a, b, x, expected = _two_stage(target)
    try:
        y = a.call_on_device(x)
        assert isinstance(y, sparsile.runtime.DeviceTensor) and y.shape == (8, 32) and y.dtype == np.float32
        assert y.driver == a.manifest.target["driver"]
        z = b.call_on_device(y)  # handed over as the device buffer it is
        np.testing.assert_allclose(z.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(b(y), expected.numpy(), rtol=1e-4, atol=1e-4)  # a plain call takes it too
        with pytest.raises(ArgumentError, match=r"argument 0 \(x\): expected float32\[8, 32\], got float32\[8, 16\]"):
            b(z)
        y.release()
        with pytest.raises(ValueError, match="the device tensor was released"):
            y.numpy()
    finally:
        a.release()
        b.release()


def test_results_chain_on_the_cpu_device():
    _check_chain("cpu")


@needs_vulkan
def test_results_chain_on_vulkan():
    _check_chain("vulkan")


@needs_vulkan
def test_a_device_tensor_of_another_driver_is_refused():
    a, b, x, _ = _two_stage("vulkan")
    cpu_b = sparsile.compile(*_second_model(), target="cpu", cache=False)
    try:
        y = a.call_on_device(x)
        with pytest.raises(ArgumentError, match=r"argument 0: it lives on driver 'vulkan', the call runs on 'local-task'; copy it with .numpy\(\)"):
            cpu_b(y)
    finally:
        for m in (a, b, cpu_b):
            m.release()

