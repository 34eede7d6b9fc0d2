"""Weight-only quantization (int8 rows, int4 groups of 128) and half precision in every CPU storage format.

Each compile stores a four-layer MLP's layers in different formats (the schedule's
candidates are limited per compile), so a few compiles cover every format at the row
counts that pick different kernels (1: batch-1 kernels; 7: the bitmask/row kernel and
K-blocked CSR; 33: K-blocked CSR and dequantize-then-matmul). The reference is the same
scheme computed by torch in float64: ``x @ dequantize(quantize(W))^T + b``.
"""

from __future__ import annotations

import numpy as np
import pruning
import pytest
import torch
from conftest import HOST_BITMASK

import sparsile
from sparsile.errors import ModelImportError, SparsileError
from sparsile.passes.quantization import dequantize, pack_nibbles, quantize, scheme, unpack_nibbles

# in_features of 100 and 200 are not multiples of the 16-column tiles or the 128-column groups.
SIZES = (200, 100, 128, 64, 48)
REQUESTED = {"layers.0": "csr", "layers.1": "2:4", "layers.2": "channels"}
#: Storage candidates per compile: together they put every layer in every format that holds it
#: (one sparse format for the 2:4 layer at a time: which of nm and bitmask is faster is the cost model's call).
FORMAT_SETS = (("csr", "channels"), ("nm", "channels"), ("bitmask", "channels"))


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(SIZES, SIZES[1:]))
        pruning.magnitude(self.layers[0], 0.7)
        pruning.n_of_m(self.layers[1], 2, 4)
        with torch.no_grad():  # pruned input channels: kept as channels storage (compaction removes output rows)
            self.layers[2].weight[:, ::2] = 0.0
        self.eval()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


def _reference(model: MLP, x: torch.Tensor, quant: str) -> torch.Tensor:
    """The model in float64 with every weight replaced by its quantized value.

    Channels storage quantizes the kept sub-matrix: a row's scale is taken over its kept
    columns (the same as over the whole row, whose other columns are zero).
    """
    twin = MLP().double()
    with torch.no_grad():
        for mine, theirs in zip(twin.layers, model.layers):
            weight = theirs.weight.detach().float().numpy()
            mine.weight.copy_(torch.from_numpy(quantize(weight, scheme(quant)).dequantized()).double())
            mine.bias.copy_(theirs.bias.double())
        return twin(x.double())


@pytest.mark.parametrize("quant", ["int8", "int4-g128"])
@pytest.mark.parametrize("rows", [1, 7, 33])
def test_every_format_stores_quantized_weights_and_matches_the_scheme(quant, rows):
    model = MLP()
    x = torch.randn(rows, SIZES[0])
    expected = _reference(model, x, quant)
    seen = set()
    for formats in FORMAT_SETS:
        compiled = sparsile.compile(model, (x,), quantize=quant, sparsity=REQUESTED, cache=False,
                                    pass_options={"schedule": {"formats": list(formats)}})
        layers = list(compiled.report)
        seen |= {layer.format for layer in layers}
        assert all(layer.precision == quant for layer in layers)
        # The dense layer: 8 or 4 bits a value (64 columns: no padding) plus a float32 scale per row or group.
        assert layers[3].format == "dense" and layers[3].bits_per_weight == (8 + 32 / 64 if quant == "int8" else 4 + 32 / 64)
        got = compiled(x)
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-5)
    expected_formats = {"csr", "channels", "dense"} | ({"nm"} if rows == 1 else set()) | ({"bitmask"} if rows <= 8 and HOST_BITMASK else set())
    assert expected_formats <= seen


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("rows", [1, 7, 33])
def test_every_format_stores_half_precision_weights_as_they_are(dtype, rows):
    model = MLP().to(dtype)
    x = torch.randn(rows, SIZES[0], dtype=dtype)
    with torch.no_grad():
        expected = model(x)
    element = "f16" if dtype is torch.float16 else "bf16"
    for formats in FORMAT_SETS:
        compiled = sparsile.compile(model, (x,), sparsity=REQUESTED, cache=False, pass_options={"schedule": {"formats": list(formats)}})
        layers = list(compiled.report)
        assert all(layer.precision == element for layer in layers), [layer.precision for layer in layers]
        assert all(layer.dense_bytes == 2 * layer.shape[0] * layer.shape[1] for layer in layers)
        got = compiled(x)
        assert got.dtype == dtype
        torch.testing.assert_close(got, expected)  # the dtype's tolerances: accumulation order may move the last bit


def test_a_quantized_half_precision_model_is_quantized_from_its_own_values():
    model = MLP().to(torch.float16)
    x = torch.randn(3, SIZES[0], dtype=torch.float16)
    compiled = sparsile.compile(model, (x,), quantize="int8", cache=False)
    assert {layer.precision for layer in compiled.report} == {"int8"}
    # The dense size in the report is the model's: 2 bytes a weight, not the float32 a kernel computes in.
    assert all(layer.dense_bytes == 2 * layer.shape[0] * layer.shape[1] for layer in compiled.report)
    expected = _reference(model, x.float(), "int8")
    torch.testing.assert_close(compiled(x).double(), expected, rtol=1e-2, atol=1e-2)  # output rounded to float16


def test_the_scheme_is_symmetric_round_half_even_with_zeros_kept():
    w = np.array([[0.0, 1.0, -2.54, 0.5 * 2.54 / 127], [0.0, 0.0, 0.0, 0.0]], np.float32)
    q8 = quantize(w, scheme("int8"))
    assert q8.scales[0] == pytest.approx(2.54 / 127) and q8.scales[1] == 0
    assert q8.q[0, 0] == 0 and q8.q[0, 2] == -127 and (q8.q[1] == 0).all()
    assert q8.q[0, 3] == 0  # exactly half a step rounds to the even neighbour, as torch.round does
    torch_q = torch.round(torch.from_numpy(w[0] / q8.scales[0])).to(torch.int8).numpy()
    np.testing.assert_array_equal(q8.q[0], torch_q)
    # int4: one scale per 128 consecutive columns of a row, the group's max|w| / 7.
    rng = np.random.default_rng(0)
    w4 = rng.standard_normal((3, 300)).astype(np.float32)
    q4 = quantize(w4, scheme("int4-g128"))
    assert q4.scales.shape == (3, 3)
    np.testing.assert_allclose(q4.scales[:, 2], np.abs(w4[:, 256:]).max(axis=1) / 7, rtol=1e-6)
    assert q4.q.min() >= -7 and q4.q.max() <= 7
    np.testing.assert_array_equal(unpack_nibbles(pack_nibbles(q4.q)), q4.q)
    np.testing.assert_allclose(dequantize(q4.q, q4.scales, q4.quant), q4.dequantized())


def test_artifact_sizes_follow_the_bits_per_weight(tmp_path):
    torch.manual_seed(0)
    layer = torch.nn.Linear(1024, 512).eval()
    pruning.magnitude(layer, 0.9)
    x = torch.randn(1, 1024)
    sizes = {}
    for name, options in {"dense": {"sparsity": {"weight": "dense"}}, "int8": {"quantize": "int8", "sparsity": {"weight": "dense"}},
                          "int8_u90": {"quantize": "int8"}, "int4": {"quantize": "int4-g128", "sparsity": {"weight": "dense"}}}.items():
        compiled = sparsile.compile(layer, (x,), cache=False, **options)
        sizes[name] = (compiled.save(tmp_path / name) / "model.vmfb").stat().st_size
    assert sizes["int8"] < 0.3 * sizes["dense"]
    assert sizes["int4"] < 0.16 * sizes["dense"]
    assert sizes["int8_u90"] < 0.2 * sizes["dense"]


def test_an_unknown_scheme_is_a_clear_error():
    with pytest.raises(SparsileError, match=r"unknown quantize='int3'; expected one of int8, int4-g128"):
        sparsile.compile(torch.nn.Linear(4, 4), (torch.randn(1, 4),), quantize="int3")


def test_torch_quantized_modules_are_refused_naming_the_layer():
    import warnings

    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    with pytest.raises(ModelImportError, match=r"layer '0' is torch's quantized .*Linear; .*quantize='int8' or 'int4-g128'"):
        sparsile.compile(quantized, (torch.randn(1, 8),), cache=False)


@pytest.mark.parametrize("in_features", [300, 256, 100])
def test_the_2_4_kernel_scales_each_whole_int4_group_once(in_features):
    """At one row the 2:4 kernel sums a whole 128-column group's inputs unscaled and scales each block's sum once;
    inputs past the last whole group (300: 44 columns; 100: all of them) are scaled as they are read."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(in_features, 256).eval()
    pruning.n_of_m(layer, 2, 4)
    x = torch.randn(1, in_features)
    compiled = sparsile.compile(layer, (x,), quantize="int4-g128", sparsity={"weight": "2:4"}, cache=False,
                                pass_options={"schedule": {"formats": ["nm"]}})
    (row,) = compiled.report
    assert (row.format, row.precision) == ("nm", "int4-g128")
    weight = quantize(layer.weight.detach().numpy(), scheme("int4-g128")).dequantized()
    expected = x.double() @ torch.from_numpy(weight).double().T + layer.bias.detach().double()
    torch.testing.assert_close(compiled(x).double(), expected, rtol=1e-4, atol=1e-5)
