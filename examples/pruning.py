"""Pruning helpers the examples use: each zeroes weights in place the way a pruning method would."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def magnitude(linear: nn.Linear, sparsity: float) -> None:
    """Unstructured: zero the ``sparsity`` fraction of weights with the smallest magnitude."""
    w = linear.weight
    k = max(1, int(w.numel() * sparsity))
    threshold = w.abs().flatten().kthvalue(k).values
    w.mul_(w.abs() > threshold)


@torch.no_grad()
def n_of_m(linear: nn.Linear, n: int = 2, m: int = 4) -> None:
    """N:M along the input dimension: keep the n largest of every m consecutive weights."""
    w = linear.weight
    groups = w.view(w.shape[0], -1, m)
    keep = groups.abs().topk(n, dim=-1).indices
    mask = torch.zeros_like(groups).scatter_(-1, keep, 1.0)
    groups.mul_(mask)


@torch.no_grad()
def blocks(linear: nn.Linear, sparsity: float, block: int = 16) -> None:
    """Block: zero the ``sparsity`` fraction of ``block``x``block`` tiles with the smallest norm."""
    w = linear.weight
    rows, cols = w.shape
    tiles = w.view(rows // block, block, cols // block, block)
    norms = tiles.pow(2).sum(dim=(1, 3))
    k = max(1, int(norms.numel() * sparsity))
    threshold = norms.flatten().kthvalue(k).values
    tiles.mul_((norms > threshold)[:, None, :, None])


@torch.no_grad()
def neurons(linear: nn.Linear, fraction: float) -> None:
    """Structured: remove the ``fraction`` of output neurons (rows and biases) with the smallest norm."""
    w = linear.weight
    norms = w.norm(dim=1)
    k = max(1, int(len(norms) * fraction))
    dead = norms.argsort()[:k]
    w[dead] = 0.0
    if linear.bias is not None:
        linear.bias[dead] = 0.0
