"""Weights are named by their place in the model (the graph signature), never by their values."""

from __future__ import annotations

import torch

import sparsile


class Twins(torch.nn.Module):
    """Two bit-identical weights, an all-zero non-square one, and a buffer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(16, 16, bias=False)
        self.b = torch.nn.Linear(16, 16, bias=False)
        self.zero = torch.nn.Linear(16, 8, bias=False)
        self.head = torch.nn.Linear(8, 4)
        with torch.no_grad():
            self.b.weight.copy_(self.a.weight)
            self.zero.weight.zero_()
        self.register_buffer("offset", torch.ones(4))

    def forward(self, x):
        return self.head(self.zero(self.a(x) + self.b(x))) + self.offset


def test_twin_and_all_zero_weights_keep_their_names():
    model, x = Twins().eval(), torch.randn(3, 16)
    linalg = sparsile.lower(model, (x,), "linalg", elide_limit=None)
    for name in ("a.weight", "b.weight", "zero.weight", "head.weight", "head.bias", "offset"):
        assert f'sparsile.name = "{name}"' in linalg, name
    report = sparsile.analyze(model, (x,))
    assert [layer.name for layer in report] == ["a.weight", "b.weight", "zero.weight", "head.weight"]
    assert report["zero"].density == 0.0


def test_override_naming_an_all_zero_weight_is_honoured():
    model, x = Twins().eval(), torch.randn(3, 16)
    compiled = sparsile.compile(model, (x,), sparsity={"zero": "dense", "b": "csr"}, cache=False)
    assert compiled.report["zero"].source == "override" and compiled.report["zero"].pattern == "dense"
    assert compiled.report["b"].source == "override" and compiled.report["a"].source == "detected"
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)
