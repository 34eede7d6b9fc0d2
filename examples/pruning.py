"""Pruning helpers the examples use: each zeroes weights in place the way a pruning method would.

A layer is a ``torch.nn.Linear`` (weight ``[out, in]``) or a Hugging Face ``Conv1D``
(GPT-2's projections, weight ``[in, out]``); N:M groups and blocks run along the
input dimension either way. :func:`magnitude` also prunes a ``torch.nn.Conv2d``'s filter
(over all its weights); :func:`filters` removes a convolution's output channels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def _out_in(layer: nn.Module) -> torch.Tensor:
    """The layer's weight as an ``[out, in]`` view (pruning it in place prunes the layer)."""
    weight = layer.weight
    assert isinstance(weight, torch.Tensor)
    return weight.t() if type(layer).__name__ == "Conv1D" else weight


@torch.no_grad()
def magnitude(linear: nn.Module, sparsity: float) -> None:
    """Unstructured: zero the ``sparsity`` fraction of weights with the smallest magnitude."""
    w = _out_in(linear)
    k = max(1, int(w.numel() * sparsity))
    threshold = w.abs().flatten().kthvalue(k).values
    w.mul_(w.abs() > threshold)


@torch.no_grad()
def n_of_m(linear: nn.Module, n: int = 2, m: int = 4) -> None:
    """N:M along the input dimension: keep the n largest of every m consecutive weights."""
    w = _out_in(linear)
    groups = w.reshape(w.shape[0], -1, m)
    keep = groups.abs().topk(n, dim=-1).indices
    mask = torch.zeros_like(groups).scatter_(-1, keep, 1.0)
    w.mul_(mask.reshape(w.shape))


@torch.no_grad()
def blocks(linear: nn.Module, sparsity: float, block: int = 16) -> None:
    """Block: zero the ``sparsity`` fraction of ``block``x``block`` tiles with the smallest norm."""
    w = _out_in(linear)
    rows, cols = w.shape
    tiles = w.reshape(rows // block, block, cols // block, block)
    norms = tiles.pow(2).sum(dim=(1, 3))
    k = max(1, int(norms.numel() * sparsity))
    threshold = norms.flatten().kthvalue(k).values
    mask = (norms > threshold)[:, None, :, None].expand_as(tiles)
    w.mul_(mask.reshape(w.shape))


@torch.no_grad()
def neurons(linear: nn.Module, fraction: float) -> None:
    """Structured: remove the ``fraction`` of output neurons (rows and biases) with the smallest norm."""
    w = _out_in(linear)
    norms = w.norm(dim=1)
    k = max(1, int(len(norms) * fraction))
    dead = norms.argsort()[:k]
    w[dead] = 0.0
    bias = linear.bias
    if isinstance(bias, torch.Tensor):
        bias[dead] = 0.0


@torch.no_grad()
def filters(conv: nn.Conv2d, fraction: float) -> None:
    """Channel pruning as ``torch.nn.utils.prune.ln_structured(conv, "weight", fraction, n=2, dim=0)``
    (made permanent): the ``fraction`` of output channels with the smallest L2 norm become zero filters."""
    prune.ln_structured(conv, "weight", amount=fraction, n=2, dim=0)
    prune.remove(conv, "weight")
