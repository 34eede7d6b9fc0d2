"""Calling a compiled model with the wrong arguments gives a message naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsile
from sparsile.errors import ArgumentError


@pytest.fixture(scope="module")
def compiled(models):
    model, args = models.mlp()
    return sparsile.compile(model, args)


def test_wrong_count(compiled):
    with pytest.raises(ArgumentError, match=r"@main takes 1 argument\(s\) \(x: float32\[4, 64\]\), got 2"):
        compiled(torch.randn(4, 64), torch.randn(4, 64))


def test_wrong_shape(compiled):
    with pytest.raises(ArgumentError, match=r"argument 0 \(x\): expected float32\[4, 64\], got float32\[3, 64\]"):
        compiled(torch.randn(3, 64))


def test_wrong_dtype(compiled):
    with pytest.raises(ArgumentError, match=r"argument 0 \(x\): expected float32\[4, 64\], got float64\[4, 64\]"):
        compiled(np.zeros((4, 64)))


def test_wrong_kind(compiled):
    with pytest.raises(ArgumentError, match=r"argument 0 \(x\): expected a torch.Tensor, numpy.ndarray or DeviceTensor, got list"):
        compiled([[0.0] * 64] * 4)


def test_sparse_layout_tensor(compiled):
    with pytest.raises(ArgumentError, match="expected a dense \\(strided\\) tensor, got layout torch.sparse_coo"):
        compiled(torch.randn(4, 64).to_sparse())


def test_non_contiguous_and_grad_inputs_work(compiled, models):
    model, (x,) = models.mlp()
    wide = torch.randn(64, 4).t()  # a transposed view
    assert not wide.is_contiguous()
    torch.testing.assert_close(compiled(wide), model(wide).detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled(x.requires_grad_()), model(x).detach(), rtol=1e-4, atol=1e-5)
