"""Pruned models for `sparsile report` and `sparsile compile`: every layer pruned a different way.

    sparsile report examples/pruned_models.py:mlp
    sparsile report examples/pruned_models.py:encoder_block --html report.html
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import models  # noqa: E402
import pruning  # noqa: E402


def mlp(batch: int = 8) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """MLP 256 -> 512 -> 512 -> 256 -> 64: unstructured 90%, 2:4, 16x16 blocks 75%, half the neurons."""
    torch.manual_seed(0)
    model = models.MLP((256, 512, 512, 256, 64)).eval()
    first, second, third, fourth = model.layers
    pruning.magnitude(first, 0.9)
    pruning.n_of_m(second, 2, 4)
    pruning.blocks(third, 0.75, 16)
    pruning.neurons(fourth, 0.5)
    return model, (torch.randn(batch, 256),)


def encoder_block(batch: int = 2, seq: int = 32) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """Encoder block (hidden 128, FFN 512): qkv 2:4, proj 16x16 blocks, fc1 half the neurons, fc2 unstructured 90%."""
    torch.manual_seed(0)
    model = models.EncoderBlock(hidden=128, heads=4, ffn=512).eval()
    pruning.n_of_m(model.qkv, 2, 4)
    pruning.blocks(model.proj, 0.75, 16)
    pruning.neurons(model.fc1, 0.5)
    pruning.magnitude(model.fc2, 0.9)
    return model, (torch.randn(batch, seq, 128),)
