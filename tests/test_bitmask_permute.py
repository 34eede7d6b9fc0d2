"""Bitmask storage on CPUs without AVX-512 VBMI2: tiles expanded by AVX2 permutes.

The schedule asks for the permute expand where the target has AVX2 (``vector-permute``)
but not VBMI2 (``vector-expand``); the storage then keeps spare values after the last
nonzero for the kernel's eight-value loads, and the kernel reads a 256-entry lanes table.
Numerics run on any host with AVX2 (the schedule's ``features`` option picks the permute
path on a VBMI2 host too).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sparsile
from sparsile.dialects.patterns import Pattern
from sparsile.passes.formats import get_format
from sparsile.passes.formats.bitmask import SPARE_VALUES
from sparsile.passes.kernel_values import PERMUTE_LANES, permute_lanes_table
from sparsile.passes.quantization import dequantize, quantize, scheme
from sparsile.targets import _host_cpu_flags, resolve_target

BITMASK = get_format("bitmask")
HOST_AVX2 = "avx2" in _host_cpu_flags()
PERMUTE = {"schedule": {"formats": ["bitmask"], "features": ["vector-permute"]}}


def test_the_lanes_table_expands_every_byte_mask():
    table = permute_lanes_table()
    assert table.shape == (256, 2 * PERMUTE_LANES) and table.dtype == np.int32
    packed = np.arange(1, PERMUTE_LANES + 1, dtype=np.float32)  # the half tile's nonzeros, in order
    for mask in range(256):
        lanes, keep = table[mask, :PERMUTE_LANES], table[mask, PERMUTE_LANES:]
        assert set(keep.tolist()) <= {0, -1}
        moved = packed[lanes & 7]  # vpermps reads the indices' low three bits
        expanded = (moved.view(np.int32) & keep).view(np.float32)  # the and with the keep masks
        bits = (mask >> np.arange(PERMUTE_LANES)) & 1 == 1
        want = np.zeros(PERMUTE_LANES, np.float32)
        want[bits] = packed[: bits.sum()]
        np.testing.assert_array_equal(expanded, want, err_msg=f"mask {mask:08b}")


@pytest.mark.parametrize(("spec", "features"), [
    ("cpu:znver3", ("vector-permute",)),
    ("cpu:haswell", ("vector-permute",)),
    ("cpu:icelake-server", ("vector-expand", "vector-permute")),
    ("cpu:x86_64:znver4", ("vector-expand", "vector-permute")),
    ("cpu:x86_64", ()),
    ("cpu:aarch64", ()),
    ("vulkan", ()),
])
def test_target_features_by_cpu_name(spec, features):
    assert resolve_target(spec).features == features


def test_bitmask_needs_one_of_the_two_features():
    assert BITMASK.missing_features(()) == "AVX-512 VBMI2 (vector-expand) or AVX2 (vector-permute)"
    assert BITMASK.missing_features(("vector-permute",)) == ""
    assert BITMASK.missing_features(("vector-expand",)) == ""


@pytest.mark.parametrize("target, rows, reason", [
    ("cpu:x86_64:sandybridge", 1, "bitmask needs AVX-512 VBMI2 (vector-expand) or AVX2 (vector-permute), which target cpu:x86_64:sandybridge lacks"),
    ("cpu:x86_64:haswell", 9, "bitmask has no cpu kernel for 9 rows"),
])
def test_a_layer_asked_for_bitmask_that_cannot_have_it_stays_dense_and_says_why(target, rows, reason):
    torch.manual_seed(0)
    layer = torch.nn.Linear(128, 32).eval()
    with torch.no_grad():
        layer.weight[torch.rand_like(layer.weight) < 0.5] = 0
    compiled = sparsile.compile(layer, (torch.randn(rows, 128),), target=target, cache=False, sparsity={"weight": "csr"},
                                pass_options={"schedule": {"formats": ["bitmask"]}})
    (row,) = compiled.report
    noun = "row" if rows == 1 else "rows"
    assert (row.format, row.fallback) == ("dense", f"no storage format for csr runs on target {target} at {rows} {noun} ({reason})")


def _weight(shape=(5, 70), density=0.4, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * (rng.random(shape) < density)).astype(np.float32)


def test_the_permute_plan_stores_spare_values_the_verifier_asks_for():
    weight = _weight()
    plan = BITMASK.plan(Pattern.parse("csr"), weight, 1, "cpu")
    assert "expand" not in BITMASK.for_features(plan, ("vector-expand", "vector-permute")).params
    assert BITMASK.for_features(plan, ()).params == plan.params
    permute = BITMASK.for_features(plan, ("vector-permute",))
    assert permute.params["expand"] == "permute"
    storage = BITMASK.pack(weight, permute.params)
    nnz = int((weight != 0).sum())
    assert len(storage["values"]) == nnz + SPARE_VALUES and not storage["values"][nnz:].any()
    np.testing.assert_array_equal(BITMASK.unpack(storage, permute.params, weight.shape), weight)
    assert BITMASK.content_problem(storage, permute.params, weight.shape) is None
    short = {**storage, "values": storage["values"][: nnz + SPARE_VALUES - 1]}
    assert BITMASK.content_problem(short, permute.params, weight.shape) == (
        f"storage 'values' must hold {SPARE_VALUES} spare values after the last nonzero for the permute expand "
        f"(it holds {nnz + SPARE_VALUES - 1}, the masks mark {nnz})"
    )
    # The expandload kernel reads no further than the last nonzero.
    assert BITMASK.content_problem(short, plan.params, weight.shape) is None


def _reference(layer: torch.nn.Linear, x: torch.Tensor, quant: str | None) -> torch.Tensor:
    """The layer in float64, with the quantized weight's values where it is quantized."""
    weight = layer.weight.detach().float()
    if quant:
        q = quantize(weight.numpy(), scheme(quant))
        weight = torch.from_numpy(dequantize(q.q, q.scales, scheme(quant)))
    return x.double() @ weight.double().T + layer.bias.detach().double()


@pytest.mark.skipif(not HOST_AVX2, reason="the permute expand needs AVX2 on the host")
@pytest.mark.parametrize(("dtype", "quant"), [
    (torch.float32, None), (torch.float16, None), (torch.bfloat16, None), (torch.float32, "int8"), (torch.float32, "int4-g128"),
])
@pytest.mark.parametrize("rows", [1, 3, 7])
def test_permute_expanded_bitmask_matches_torch(dtype, quant, rows):
    torch.manual_seed(rows)
    # 200 inputs: four mask words, the last one partly padding; 70 outputs: three workgroups, the last short.
    layer = torch.nn.Linear(200, 70).eval().to(dtype)
    with torch.no_grad():
        layer.weight[torch.rand(layer.weight.shape) < 0.6] = 0
        layer.weight[3] = 0  # a row with no nonzeros
        layer.weight[4, :128] = 0  # whole mask words empty
    x = torch.randn(rows, 200, dtype=dtype)
    options: dict = {"cache": False, "sparsity": {"weight": "csr"}, "pass_options": PERMUTE}
    if quant:
        options["quantize"] = quant
    compiled = sparsile.compile(layer, (x,), **options)
    (report,) = compiled.report
    assert report.format == "bitmask" and report.storage.endswith("expanded by AVX2 permutes"), report.storage
    got = compiled(x)
    compiled.release()
    assert got.dtype == dtype
    reference = _reference(layer, x, quant)
    if dtype == torch.float32:
        torch.testing.assert_close(got.double(), reference, rtol=1e-5, atol=1e-5)
    else:  # accumulated in float32, rounded once to the model's dtype: the dtype's tolerances
        torch.testing.assert_close(got, reference.to(dtype))
