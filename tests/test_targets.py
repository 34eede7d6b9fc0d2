"""Every target compiles here; only cpu runs (GPU targets run only where a device exists)."""

from __future__ import annotations

import re

import pytest

import sparsile

GPU_TARGETS = ["cuda", "rocm", "vulkan"]


@pytest.mark.parametrize("target", GPU_TARGETS)
@pytest.mark.parametrize("factory", ["mlp", "cnn", "encoder_block"])
def test_gpu_targets_compile(models, factory, target):
    model, args = getattr(models, factory)()
    compiled = sparsile.compile(model, args, target=target)
    assert len(compiled.vmfb) > 1000
    expected_driver = {"cuda": "cuda", "rocm": "hip", "vulkan": "vulkan"}[target]
    assert compiled.manifest.target["driver"] == expected_driver
    assert any(flag.startswith("--iree-hal-target-device=") for flag in compiled.manifest.iree_flags)


@pytest.mark.parametrize("target", GPU_TARGETS)
def test_sparse_mlp_in_every_format_compiles_for_gpus(target):
    import torch
    from models import EVERY_PATTERN, mlp_every_pattern

    compiled = sparsile.compile(mlp_every_pattern(), (torch.randn(8, 64),), target=target, sparsity=EVERY_PATTERN)
    report = list(compiled.report)
    # The report says what runs there: the GPU storage formats, no fallback.
    assert [(l.pattern, l.format, l.fallback) for l in report][:4] == [
        ("csr", "ell", ""), ("2:4", "nmell", ""), ("bsr16", "bell", ""), ("channels", "channels", "")]
    assert len(compiled.vmfb) > 1000


def test_named_chips_reach_iree(models):
    model, args = models.mlp()
    compiled = sparsile.compile(model, args, target="vulkan:rdna3")
    assert "--iree-vulkan-target=rdna3" in compiled.manifest.iree_flags
    compiled = sparsile.compile(model, args, target="cpu:znver4")
    assert compiled.manifest.target["chip"] == "znver4"


def _has_driver(driver: str) -> bool:
    try:
        from sparsile.runtime import get_device

        get_device(driver)
        return True
    except sparsile.RuntimeLoadError:
        return False


@pytest.mark.parametrize("target,driver", [("cuda", "cuda"), ("vulkan", "vulkan")])
def test_gpu_targets_run_where_a_device_exists(models, target, driver):
    if not _has_driver(driver):
        pytest.skip(f"no {driver} device on this machine")
    import torch

    model, args = models.mlp()
    compiled = sparsile.compile(model, args, target=target)
    torch.testing.assert_close(compiled(*args), model(*args).detach(), rtol=1e-3, atol=1e-4)


def _gpu_layer(pattern: str):
    import pruning
    import torch

    torch.manual_seed(0)
    layer = torch.nn.Linear(1024, 1024, bias=False).eval()
    if pattern == "u90":
        pruning.magnitude(layer, 0.9)
    elif pattern == "2:4":
        pruning.n_of_m(layer, 2, 4)
    elif pattern == "b16_90":
        pruning.blocks(layer, 0.9, 16)
    return layer


#: The artifact-size bounds (of the dense artifact) the GPU storage formats must meet.
SIZE_BOUNDS = {"u90": ("csr", "ell", 0.35), "2:4": ("2:4", "nmell", 0.8), "b16_90": ("bsr16", "bell", 0.25)}


@pytest.mark.parametrize("rows", [1, 8])
@pytest.mark.parametrize("target", GPU_TARGETS)
def test_gpu_artifacts_keep_the_sparse_storage(target, rows):
    """The IR handed to IREE holds the packed storage, not the dense weight, and the artifact shrinks."""
    import torch

    x = (torch.randn(rows, 1024),)
    dense = sparsile.compile(_gpu_layer("dense"), x, target=target, cache=False)
    for pattern, (requested, fmt, bound) in SIZE_BOUNDS.items():
        compiled = sparsile.compile(_gpu_layer(pattern), x, target=target, cache=False, sparsity={"weight": requested})
        (row,) = compiled.report
        assert row.format == fmt and not row.fallback, row
        handoff = compiled.ir("iree-handoff")
        assert "tensor<1024x1024xf32>" not in handoff, f"{pattern}: a dense copy of the weight reached IREE"
        assert "tensor.extract" in handoff
        ratio = len(compiled.vmfb) / len(dense.vmfb)
        assert ratio <= bound, f"{pattern} as {fmt}: artifact {ratio:.2f} of dense (bound {bound})"


@pytest.mark.parametrize("target", GPU_TARGETS)
def test_gpu_targets_compact_pruned_neurons(target):
    """Half the hidden neurons of a 768-3072-768 MLP removed: compacted on GPU targets as on cpu (half the artifact)."""
    import pruning
    import torch
    from models import MLP

    torch.manual_seed(0)
    model = MLP((768, 3072, 768)).eval()
    pruning.neurons(model.layers[0], 0.5)
    x = (torch.randn(8, 768),)
    compiled = sparsile.compile(model, x, target=target, cache=False)
    # The dense second layer keeps its row; compaction took half its input columns.
    assert [(row.pattern, row.format, row.fallback) for row in compiled.report] == [("channels", "channels", ""), ("dense", "dense", "")]
    assert compiled.report["layers.1"].sparse_bytes == compiled.report["layers.1"].dense_bytes / 2
    handoff = compiled.ir("iree-handoff")
    assert "tensor<768x1536xf32>" in handoff and "tensor<1536x768xf32>" in handoff
    assert not re.search(r"tensor<(\d+x)*3072x", handoff), "a 3072-wide tensor reached IREE"
    uncompacted = sparsile.compile(model, x, target=target, cache=False, pass_options={"detect-sparsity": {"min-sparsity": 1.0}})
    ratio = len(compiled.vmfb) / len(uncompacted.vmfb)
    assert ratio <= 0.55, f"compacted artifact {ratio:.2f} of the uncompacted one"


def test_gpu_storage_is_not_guessed_without_measured_costs():
    """Until the GPU kernels are timed, a detected pattern stays dense on GPU targets, saying why."""
    import torch

    compiled = sparsile.compile(_gpu_layer("u90"), (torch.randn(4, 1024),), target="cuda", cache=False)
    (row,) = compiled.report
    assert row.pattern == "csr" and row.format == "dense"
    assert row.fallback == ("no measured cost of ell or dense on target gpu (benchmarks/gpu.py times them on a GPU); "
                            "request the pattern with sparsity= to store it as ell")
    assert row.speedup == "none" and row.predicted_us == 0.0


@pytest.mark.parametrize("target", GPU_TARGETS)
def test_n_of_m_weights_are_stored_as_values_and_8bit_places_on_gpus(target):
    """Without measured GPU costs schedule keeps the candidate storing the fewest bytes: nmell for every N:M
    weight at any row count (2:4 in fp32: 4 + 1 bytes per kept value, 0.625 of dense; ell's columns cost more)."""
    import pruning
    import torch

    for nm, ratio in (("2:4", 0.625), ("4:8", 0.625), ("1:4", 0.3125)):
        n, m = (int(v) for v in nm.split(":"))
        torch.manual_seed(0)
        layer = torch.nn.Linear(512, 256, bias=False).eval()
        pruning.n_of_m(layer, n, m)
        for rows in (1, 8):
            (row,) = sparsile.analyze(layer, (torch.randn(rows, 512),), target=target, sparsity={"weight": nm})
            assert (row.format, row.fallback) == ("nmell", ""), (nm, rows, row)
            assert row.sparse_bytes / row.dense_bytes == ratio, (nm, rows, row)


def _pruned_mlp(dtype=None):
    """An MLP of three layers pruned 90% by magnitude, 2:4 and in 16x16 blocks, and the sparsity that asks for them."""
    import pruning
    import torch
    from models import MLP

    torch.manual_seed(0)
    model = MLP((384, 256, 256, 128)).eval()
    pruning.magnitude(model.layers[0], 0.9)
    pruning.n_of_m(model.layers[1], 2, 4)
    pruning.blocks(model.layers[2], 0.8, 16)
    return (model.to(dtype) if dtype is not None else model), {"layers.0": "csr", "layers.1": "2:4", "layers.2": "bsr16"}


#: precision -> (model dtype, quantize=, the element type GPU storage holds the values in, the slots per element).
NARROW = {"f16": ("float16", None, "f16", 1), "bf16": ("bfloat16", None, "bf16", 1), "int8": (None, "int8", "i8", 1),
          "int4-g128": (None, "int4-g128", "i8", 2)}


@pytest.mark.parametrize("precision", list(NARROW))
@pytest.mark.parametrize("target", ["cuda", "rocm"])
def test_gpu_targets_keep_narrow_values(target, precision):
    """On cuda and rocm, half-precision weights reach IREE as f16/bf16 values and quantized ones as i8 (int4 two per byte)
    with their f32 scales, in every GPU format; no dense copy of a sparse weight, in any precision."""
    import torch

    dtype, quantize, element, lanes = NARROW[precision]
    model, sparsity = _pruned_mlp(getattr(torch, dtype) if dtype else None)
    x = torch.randn(8, 384, dtype=getattr(torch, dtype) if dtype else torch.float32)
    compiled = sparsile.compile(model, (x,), target=target, sparsity=sparsity, quantize=quantize, cache=False)
    ell, nmell, bell = compiled.report
    assert [(row.format, row.fallback) for row in (ell, nmell, bell)] == [("ell", ""), ("nmell", ""), ("bell", "")]
    handoff = compiled.ir("iree-handoff")
    ell_slots = int(re.search(r"(\d+) slots per row", ell.storage).group(1))
    block_slots = int(re.search(r"(\d+) slots per block row", bell.storage).group(1)) * 16
    # [out, slots] for ell and nmell (2:4 of 256 inputs: 128 slots), [out / 16, 16, slots] for bell; int4 halves the slots.
    for fmt, shape in (("ell", f"256x{ell_slots // lanes}"), ("nmell", f"256x{128 // lanes}"), ("bell", f"8x16x{block_slots // lanes}")):
        assert f"tensor<{shape}x{element}>" in handoff, f"{fmt}: no {shape} values of {element} reached IREE"
    for dense_shape in ("256x384", "256x256", "128x256"):
        assert not re.search(rf"tensor<{dense_shape}x(f32|f16|bf16|i8)>", handoff), f"a dense copy of a sparse weight ({dense_shape}) reached IREE"
    if quantize == "int4-g128":  # group scales, [out, ceil(in / 128)]
        assert all(f"tensor<{scales}xf32>" in handoff for scales in ("256x3", "256x2", "128x2"))
    elif quantize == "int8":  # a row scale beside each bias
        assert len(re.findall(r"arith.constant .*: tensor<256xf32>", handoff)) == 4
        assert len(re.findall(r"arith.constant .*: tensor<128xf32>", handoff)) == 2
    assert len(compiled.vmfb) > 1000


@pytest.mark.parametrize("rows", [1, 7, 33])
@pytest.mark.parametrize("precision", list(NARROW))
def test_gpu_lowering_numerics_on_the_cpu_backend(precision, rows):
    """What cuda and rocm receive, compiled by IREE's CPU backend (no GPU here): half-precision models match eager in
    their dtype, quantized ones x @ dequantized(W)^T + b in float64. IREE's CUDA and ROCm code generation is not
    checked by this (benchmarks/gpu.py checks every kernel on a GPU)."""
    import copy

    import torch

    from sparsile.passes.quantization import SCHEMES, quantize

    dtype, scheme, _, _ = NARROW[precision]
    torch_dtype = getattr(torch, dtype) if dtype else torch.float32
    model, sparsity = _pruned_mlp(torch_dtype)
    x = torch.randn(rows, 384, dtype=torch_dtype)
    text = sparsile.lower(model, (x,), "iree-input", target="cuda", sparsity=sparsity, quantize=scheme, elide_limit=None, cache=False)
    assert text.count("tensor.extract") >= 3, "the GPU formats' gathering contractions"
    # IREE's CPU backend refuses the large vectors it makes of some GPU-shaped contractions unless told not to.
    compiled = sparsile.compile(text, target="cpu", from_stage="iree-input", cache=False, iree_flags=("--iree-llvmcpu-fail-on-large-vector=false",))
    try:
        got = compiled(x)
        assert got.dtype == torch_dtype
        if scheme is None:
            with torch.no_grad():
                torch.testing.assert_close(got, model(x))  # the dtype's tolerances
            return
        reference = copy.deepcopy(model).double()
        with torch.no_grad():
            for layer in reference.layers:
                layer.weight.copy_(torch.from_numpy(quantize(layer.weight.float().numpy(), SCHEMES[scheme]).dequantized()))
            expected = reference(x.double())
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)
    finally:
        compiled.release()


#: Artifact bounds for a 1024x1024 layer stored in another precision, per pattern: (of the same layer stored sparse
#: in float32, of the dense artifact in the same precision). 16-bit columns stay 16-bit (32-bit on Vulkan at one row),
#: so the values' share shrinks; 2:4 keeps an 8-bit place per value, which quantized values no longer outweigh.
PRECISION_BOUNDS = {
    ("u90", "f16"): (0.8, 0.3), ("u90", "int8"): (0.7, 0.45), ("u90", "int4-g128"): (0.67, 0.78),
    ("2:4", "f16"): (0.65, 0.8), ("2:4", "int8"): (0.45, 1.05), ("2:4", "int4-g128"): (0.35, 1.55),
    ("b16_90", "f16"): (0.6, 0.25), ("b16_90", "int8"): (0.35, 0.25), ("b16_90", "int4-g128"): (0.32, 0.33),
}


@pytest.mark.parametrize("target,rows", [("cuda", 8), ("rocm", 8), ("vulkan", 1), ("vulkan", 8)])
def test_gpu_artifacts_shrink_in_every_precision(target, rows):
    """Half-precision and quantized weights stored sparse make artifacts smaller than the same storage in float32 and
    than the dense artifact in the same precision (IREE's generic Vulkan target compiles no dense float16 weight at
    several rows nor any dense quantized one: there only the first bound is checked)."""
    import torch

    def compiled_size(pattern: str, precision: str) -> int:
        dtype = torch.float16 if precision == "f16" else torch.float32
        layer = _gpu_layer(pattern).to(dtype)
        requested = {"weight": SIZE_BOUNDS[pattern][0]} if pattern != "dense" else {}
        quantize = precision if precision in ("int8", "int4-g128") else None
        compiled = sparsile.compile(layer, (torch.randn(rows, 1024, dtype=dtype),), target=target, cache=False, sparsity=requested,
                                    quantize=quantize)
        if pattern != "dense":
            (row,) = compiled.report
            assert row.format == SIZE_BOUNDS[pattern][1] and not row.fallback, row
        return len(compiled.vmfb)

    for pattern in SIZE_BOUNDS:
        f32 = compiled_size(pattern, "f32")
        for precision in ("f16", "int8", "int4-g128"):
            of_f32, of_dense = PRECISION_BOUNDS[pattern, precision]
            size = compiled_size(pattern, precision)
            assert size / f32 <= of_f32, f"{pattern} in {precision}: {size / f32:.2f} of the float32 storage (bound {of_f32})"
            if target != "vulkan":
                dense = compiled_size("dense", precision)
                assert size / dense <= of_dense, f"{pattern} in {precision}: {size / dense:.2f} of dense {precision} (bound {of_dense})"
