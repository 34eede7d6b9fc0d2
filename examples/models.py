"""Small models for the examples, the CLI and the tests.

Each factory returns ``(module, example_args)``, the form ``sparsile compile
examples/models.py:<factory>`` expects.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """Linear -> ReLU -> Linear -> ReLU -> Linear."""

    def __init__(self, sizes: tuple[int, ...] = (64, 256, 256, 32)):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class SmallCNN(nn.Module):
    """conv -> batchnorm -> relu -> maxpool, twice, then global average pooling and a classifier."""

    def __init__(self, channels: int = 3, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(x.mean(dim=(2, 3)))


class BasicBlock(nn.Module):
    """ResNet's basic block: 3x3 conv, BN, ReLU, 3x3 conv, BN, plus the shortcut, then ReLU.

    Where the shape changes (a stride or new width) the shortcut is a strided 1x1 conv and BN.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet: a 3x3 stem, ``blocks`` basic blocks per stage (later stages start with a
    stride of 2), global average pooling and a classifier."""

    def __init__(self, widths: tuple[int, ...] = (16, 32), blocks: int = 1, channels: int = 3, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers: list[nn.Module] = []
        cin = widths[0]
        for i, width in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(cin, width, stride=2 if i > 0 and b == 0 else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block: multi-head attention and a GELU feed-forward."""

    def __init__(self, hidden: int = 64, heads: int = 4, ffn: int = 256):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, ffn)
        self.fc2 = nn.Linear(ffn, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, s, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / (h // self.heads) ** 0.5
        attn = torch.softmax(scores, dim=-1) @ v
        x = x + self.proj(attn.transpose(1, 2).reshape(b, s, h))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


def _seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)


def mlp(batch: int = 4) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    _seeded()
    return MLP().eval(), (torch.randn(batch, 64),)


def cnn(batch: int = 2) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    _seeded()
    model = SmallCNN().eval()
    # Non-trivial running statistics, so batchnorm is really exercised.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model, (torch.randn(batch, 3, 16, 16),)


def randomize_batchnorm(model: nn.Module) -> None:
    """Non-trivial batch-norm statistics and affine parameters, as a trained network has, so that
    batch norm is really exercised (and folding it is checked)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


def resnet(batch: int = 2, size: int = 16, widths: tuple[int, ...] = (16, 32), blocks: int = 1) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """A small :class:`ResNet` on ``size`` x ``size`` RGB images."""
    _seeded()
    model = ResNet(widths, blocks).eval()
    randomize_batchnorm(model)
    return model, (torch.randn(batch, 3, size, size),)


def encoder_block(batch: int = 2, seq: int = 16) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    _seeded()
    return EncoderBlock().eval(), (torch.randn(batch, seq, 64),)


def bert_base_block(batch: int = 1, seq: int = 128) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The BERT-base-sized encoder block of DESIGN.md (hidden 768, 12 heads, FFN 3072)."""
    _seeded()
    return EncoderBlock(hidden=768, heads=12, ffn=3072).eval(), (torch.randn(batch, seq, 768),)


#: The pattern of each pruned layer of :func:`mlp_every_pattern` (as ``sparsity=`` takes it).
EVERY_PATTERN = {"layers.0": "csr", "layers.1": "2:4", "layers.2": "bsr16", "layers.3": "channels"}


def mlp_every_pattern(sizes: tuple[int, ...] = (64, 128, 128, 128, 64, 32), block_sparsity: float = 0.75) -> MLP:
    """An MLP whose first four layers are pruned as :data:`EVERY_PATTERN` says: 90% by magnitude,
    2:4, 16x16 blocks, half the neurons."""
    import pruning

    _seeded()
    model = MLP(sizes).eval()
    first, second, third, fourth = model.layers[:4]
    pruning.magnitude(first, 0.9)
    pruning.n_of_m(second, 2, 4)
    pruning.blocks(third, block_sparsity, 16)
    pruning.neurons(fourth, 0.5)
    return model
