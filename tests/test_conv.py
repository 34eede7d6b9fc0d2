"""Sparse and channel-pruned convolutions: numerics against torch eager, storage, compaction."""

from __future__ import annotations

import numpy as np
import pruning
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import sparsile
from sparsile.mlir import ir, new_context
from sparsile.passes.ir_query import walk_ops
from sparsile.passes.kernel_ops import Kernel, is_kernel

ACTIVATIONS = {"none": lambda t: t, "relu": torch.relu, "silu": nn.functional.silu}


class ConvLayer(nn.Module):
    """conv -> (batch norm) -> activation (+ residual, for shapes that allow it)."""

    def __init__(self, cin: int, cout: int, window: int, stride: int, dilation: int, padding: int, groups: int,
                 bias: bool, batchnorm: bool, activation: str, residual: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, window, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(cout) if batchnorm else nn.Identity()
        self.activation, self.residual = activation, residual

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        y = ACTIVATIONS[self.activation](self.bn(self.conv(x)))
        return y + r if self.residual else y


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cin=st.integers(1, 12),
    cout=st.integers(1, 12),
    window=st.sampled_from([1, 2, 3, 5]),
    stride=st.sampled_from([1, 2, 3]),
    dilation=st.sampled_from([1, 2]),
    padding=st.integers(0, 2),
    size=st.integers(5, 13),
    batch=st.sampled_from([1, 2]),
    groups=st.sampled_from([1, 1, 1, 2, "depthwise"]),
    mask=st.sampled_from(["u90", "u50", "filters", "input_channels"]),
    bias=st.booleans(),
    batchnorm=st.booleans(),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    seed=st.integers(0, 2**16),
)
def test_conv_matches_eager(cin, cout, window, stride, dilation, padding, size, batch, groups, mask, bias, batchnorm, activation, seed):
    """Any window, stride, dilation, padding, groups and mask: the compiled convolution (BN folded
    into it, the epilogue fused) computes what torch does, and a 90%-pruned one runs sparse."""
    group_count = cin if groups == "depthwise" else groups
    if groups == "depthwise":
        cout = cin
    cin, cout = cin * (group_count if groups == 2 else 1), cout * (group_count if groups == 2 else 1)
    if size + 2 * padding < dilation * (window - 1) + 1:
        return  # no output position
    torch.manual_seed(seed)
    out_size = (size + 2 * padding - dilation * (window - 1) - 1) // stride + 1
    residual = stride == 1 and out_size == size and cin == cout
    model = ConvLayer(cin, cout, window, stride, dilation, padding, group_count, bias, batchnorm, activation, residual).eval()
    if batchnorm:
        with torch.no_grad():
            model.bn.running_mean.uniform_(-0.5, 0.5)
            model.bn.running_var.uniform_(0.5, 2.0)
            model.bn.weight.uniform_(0.5, 1.5)
            model.bn.bias.uniform_(-0.3, 0.3)
    weight = model.conv.weight
    with torch.no_grad():
        if mask in ("u90", "u50"):
            pruning.magnitude(model.conv, 0.9 if mask == "u90" else 0.5)
        elif mask == "filters":
            weight[::2] = 0
        else:
            weight[:, ::2] = 0
    if not weight.any():
        return
    x, r = torch.randn(batch, cin, size, size), torch.randn(batch, cout, out_size, out_size)
    compiled = sparsile.compile(model, (x, r), cache=False)
    with torch.no_grad():
        expected = model(x, r)
    torch.testing.assert_close(compiled(x, r), expected, rtol=1e-4, atol=1e-4)
    (layer,) = compiled.report
    if mask == "u90" and weight.numel() >= 64:
        # The direct sparse convolution (grouped and depthwise too) is predicted faster than IREE's at 10% density.
        assert layer.format == "csr", layer.fallback


def _pruned_resnet(prune: str, widths: tuple[int, ...] = (8, 16), size: int = 12, batch: int = 2) -> tuple[nn.Module, torch.Tensor]:
    import models

    model, (x,) = models.resnet(batch=batch, size=size, widths=widths)
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        if prune == "u90":
            torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.9)  # the mask stays: weight_orig * weight_mask
        else:
            torch.nn.utils.prune.ln_structured(conv, "weight", amount=0.5, n=2, dim=0)
            torch.nn.utils.prune.remove(conv, "weight")
    return model, x


def test_a_90_percent_pruned_resnet_runs_its_convolutions_sparse():
    """Every convolution of a 90%-pruned ResNet (stem, 3x3 blocks, strided 3x3 and 1x1 shortcut) is
    stored as CSR and runs through the direct sparse convolution; the result is torch's."""
    model, x = _pruned_resnet("u90", widths=(16, 32), size=16)
    compiled = sparsile.compile(model, (x,))
    convs = [layer for layer in compiled.report if layer.name != "head.weight"]
    assert len(convs) == 6
    for layer in convs:
        assert layer.pattern == "csr" and layer.source == "pruned"
        assert layer.format == "csr", f"{layer.name}: {layer.fallback}"
        assert layer.sparse_bytes < 0.25 * layer.dense_bytes
    assert compiled.ir("iree-input").count("sparsile.kernel = @sparsile_kernel_") == 6
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)
    fresh = torch.randn_like(x)
    torch.testing.assert_close(compiled(fresh), model(fresh).detach(), rtol=1e-4, atol=1e-5)


def _kernels(text: str) -> dict[str, tuple[int, int]]:
    """(out_features, in_features) of every kernel op, by layer."""
    with new_context():
        module = ir.Module.parse(text)
        return {Kernel(op).layer: Kernel(op).shape for op in walk_ops(module.operation) if is_kernel(op)}


def test_a_channel_pruned_resnet_is_compacted_and_matches_eager():
    """Half the output channels of every convolution removed: inside each block the first
    convolution computes only its kept channels (plus one that carries the removed channels whose
    batch-norm shift survives ReLU) and the second reads only those; convolutions whose result meets
    a residual add compute their kept filters and scatter them. The result is torch's."""
    model, x = _pruned_resnet("channels")
    compiled = sparsile.compile(model, (x,))
    shapes = _kernels(compiled.ir("kernels"))
    for block, width in (("layers.0", 8), ("layers.1", 16)):
        out_features, _ = shapes[f"{block}.conv1.weight"]
        _, in_features = shapes[f"{block}.conv2.weight"]
        assert out_features <= width // 2 + 1, "conv1 computes the kept channels (and at most one constant one)"
        assert in_features == out_features * 9, "conv2 reads only what conv1 computes"
    for name in ("stem.0.weight", "layers.0.conv2.weight", "layers.1.conv2.weight"):
        layer = next(layer for layer in compiled.report if layer.name == name)
        assert layer.format == "channels" and layer.stored_values < 0.6 * layer.shape[0] * layer.shape[1], name
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)
    fresh = torch.randn_like(x)
    torch.testing.assert_close(compiled(fresh), model(fresh).detach(), rtol=1e-4, atol=1e-5)


def test_compaction_reaches_the_linear_layer_through_pooling(models):
    """conv -> BN -> ReLU -> max pool -> ... -> global mean -> Linear: the classifier loses the
    columns of the removed channels."""
    model, args = models.cnn()
    models.randomize_batchnorm(model)
    pruning.filters(model.features[4], 0.5)
    with torch.no_grad():
        model.features[5].bias[:] = -1.0  # every removed channel is zero after ReLU: all of them go
        model.features[5].running_mean.zero_()
    compiled = sparsile.compile(model, args)
    shapes = _kernels(compiled.ir("kernels"))
    assert shapes["features.4.weight"][0] == 16
    assert "tensor<2x16xf32>, tensor<16x10xf32>" in compiled.ir("kernels"), "the head reads 16 features"
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-4, atol=1e-5)


def test_batchnorm_folding_keeps_the_mask():
    """A pruned filter followed by BN is detected with the same zeros: folding scales each filter."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()).eval()
    with torch.no_grad():
        model[1].running_var.uniform_(0.5, 2.0)
        model[1].weight.uniform_(0.5, 1.5)
    torch.nn.utils.prune.l1_unstructured(model[0], "weight", amount=0.75)
    mask = (model[0].weight_mask != 0).numpy().reshape(8, -1)
    x = torch.randn(1, 4, 6, 6)
    compiled = sparsile.compile(model, (x,))
    (layer,) = compiled.report
    assert layer.density == pytest.approx(mask.mean(), abs=1e-6) and layer.source == "pruned"
    annotated = compiled.ir("annotated")
    assert "running_mean" not in annotated and "cf.assert" not in annotated, "the batch norm is gone"
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)


NHWC_POINTWISE = """
func.func @main(%x: tensor<2x6x6x8xf32>) -> tensor<2x3x3x4xf32> {
  %w = arith.constant {sparsile.name = "pw.weight"} dense<WEIGHT> : tensor<1x1x8x4xf32>
  %b = arith.constant dense<[0.5, -0.5, 0.25, 0.0]> : tensor<4xf32>
  %e = tensor.empty() : tensor<2x3x3x4xf32>
  %acc = linalg.broadcast ins(%b : tensor<4xf32>) outs(%e : tensor<2x3x3x4xf32>) dimensions = [0, 1, 2]
  %y = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
    ins(%x, %w : tensor<2x6x6x8xf32>, tensor<1x1x8x4xf32>) outs(%acc : tensor<2x3x3x4xf32>) -> tensor<2x3x3x4xf32>
  return %y : tensor<2x3x3x4xf32>
}
"""


def test_nhwc_pointwise_convolution_is_a_sparse_matmul():
    """A strided 1x1 NHWC convolution from MLIR runs as a sparse matmul over the positions it reads."""
    rng = np.random.default_rng(0)
    weight = (rng.standard_normal((1, 1, 8, 4)) * (rng.random((1, 1, 8, 4)) < 0.3)).astype(np.float32)
    weight[0, 0, 0, :] = 1.0  # no empty filter
    text = NHWC_POINTWISE.replace("WEIGHT", np.array2string(weight, separator=", ", floatmode="unique", threshold=10**6))
    compiled = sparsile.compile(text, sparsity={"pw": "csr"}, cache=False)
    (layer,) = compiled.report
    assert layer.format == "csr" and layer.shape == (4, 8)
    assert '"sparsile.matmul"' in compiled.ir("kernels")
    x = rng.standard_normal((2, 6, 6, 8)).astype(np.float32)
    expected = x[:, ::2, ::2, :] @ weight[0, 0] + np.array([0.5, -0.5, 0.25, 0.0], np.float32)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-5, atol=1e-5)


def test_a_pattern_convolutions_cannot_hold_is_an_error_naming_the_layer():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 1, bias=False).eval()
    pruning.n_of_m(conv, 2, 4)  # the filter [4, 4] is 2:4, but no convolution kernel reads N:M groups
    with pytest.raises(sparsile.SparsileError, match=r"layer 'weight': requested 2:4 but convolution filters support csr and channels only"):
        sparsile.analyze(conv, (torch.randn(1, 4, 3, 3),), sparsity={"weight": "2:4"})


@pytest.mark.parametrize("pattern", ["csr", "channels"])
def test_conv_storage_round_trips_and_reaches_the_backend_as_it_is(pattern):
    """A conv filter's storage packs and unpacks exactly, and its arrays reach the iree-input IR unchanged."""
    from sparsile.dialects.patterns import Pattern
    from sparsile.passes.conv_geometry import ConvGeometry
    from sparsile.passes.formats import all_formats

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(6, 8, 3, padding=1, stride=2, bias=False)).eval()
    with torch.no_grad():
        if pattern == "csr":
            pruning.magnitude(model[0], 0.8)
        else:
            model[0].weight[1::2] = 0
            model[0].weight[:, ::3] = 0
    weight = model[0].weight.detach().numpy().reshape(8, -1)
    plans = 0
    for fmt in (f for f in all_formats() if f.holds(Pattern.parse(pattern))):
        plan = fmt.plan_conv(Pattern.parse(pattern), weight, ConvGeometry((3, 3), (2, 2)), (1, 6, 10, 10), "cpu")
        if plan is None:
            continue
        plans += 1
        storage = fmt.pack(weight, plan.params)
        np.testing.assert_array_equal(fmt.unpack(storage, plan.params, weight.shape), weight)
        assert fmt.content_problem(storage, plan.params, weight.shape) is None
    assert plans >= 1
    x = torch.randn(1, 6, 8, 8)
    options = {"sparsity": {"0": pattern}, "elide_limit": None, "cache": False}
    with new_context():
        module = ir.Module.parse(sparsile.lower(model, (x,), "kernels", **options))
        (kernel,) = [Kernel(op) for op in walk_ops(module.operation) if is_kernel(op)]
        assert kernel.format_name == pattern and kernel.conv == ConvGeometry((3, 3), (2, 2))
        storage = {name: np.array(array) for name, array in (kernel.storage_arrays() or {}).items()}
        lowered = ir.Module.parse(sparsile.lower(model, (x,), "iree-input", **options))
        from sparsile.constants import constant_array

        constants = [np.array(a) for a in (constant_array(op) for op in walk_ops(lowered.operation)) if a is not None]
    for name, array in storage.items():
        assert any(c.dtype == array.dtype and np.array_equal(c.ravel(), array.ravel()) for c in constants), f"storage '{name}' was repacked"
    compiled = sparsile.compile(model, (x,), sparsity={"0": pattern}, cache=False)
    torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)
