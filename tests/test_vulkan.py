"""Vulkan numerics: pruned models in every format, through sparsile's runtime and stock iree-run-module.

These run wherever a Vulkan device exists; in CI that is Mesa's lavapipe (a CPU Vulkan
driver, installed by ``.ci/run``), which says nothing about GPU speed. They skip, saying
why, where there is none.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sparsile

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
REQUESTED = {
    "mlp": {"layers.0": "csr", "layers.1": "2:4", "layers.2": "bsr16", "layers.3": "channels"},  # models.EVERY_PATTERN
    "encoder": {"qkv": "csr", "proj": "2:4", "fc1": "bsr16", "fc2": "channels"},
}


def _vulkan_problem() -> str | None:
    from sparsile.runtime import get_device

    try:
        get_device("vulkan")
    except sparsile.RuntimeLoadError as err:
        return str(err)
    return None


pytestmark = pytest.mark.skipif(
    (problem := _vulkan_problem()) is not None,
    reason=f"no Vulkan device here ({problem}); `.ci/run` installs Mesa's lavapipe (mesa-vulkan-drivers libvulkan1)",
)


def _mlp_in_every_format() -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    from models import mlp_every_pattern

    return mlp_every_pattern(), (torch.randn(8, 64),)


def _pruned_encoder_block(models) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    import pruning

    model, args = models.encoder_block()
    pruning.magnitude(model.qkv, 0.9)
    pruning.n_of_m(model.proj, 2, 4)
    pruning.blocks(model.fc1, 0.75, 16)
    pruning.neurons(model.fc2, 0.5)
    return model, args


def _pruned_cnn(models) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    import torch.nn.utils.prune

    model, args = models.cnn()
    with torch.no_grad():
        for conv in (m for m in model.modules() if isinstance(m, torch.nn.Conv2d)):
            torch.nn.utils.prune.l1_unstructured(conv, "weight", amount=0.9)
            torch.nn.utils.prune.remove(conv, "weight")
    return model, args


@pytest.fixture(scope="module")
def vulkan_models(models, tmp_path_factory):
    built = {}
    for name, make in (("mlp", _mlp_in_every_format), ("encoder", lambda: _pruned_encoder_block(models)), ("cnn", lambda: _pruned_cnn(models))):
        model, args = make()
        # Requested, so that every GPU storage format is lowered whatever lavapipe's (CPU) speed says.
        compiled = sparsile.compile(model, args, target="vulkan", sparsity=REQUESTED.get(name, {}))
        directory = compiled.save(tmp_path_factory.mktemp("vulkan") / name)
        with torch.no_grad():
            expected = model(*args)
        built[name] = (compiled, directory, args, expected)
    yield built
    for compiled, *_ in built.values():
        compiled.release()


@pytest.mark.parametrize("name", ["mlp", "encoder", "cnn"])
def test_vulkan_matches_eager_through_sparsile(vulkan_models, name):
    compiled, directory, args, expected = vulkan_models[name]
    torch.testing.assert_close(compiled(*args), expected, **TOLERANCE)
    loaded = sparsile.load(directory)
    try:
        got = loaded(*(a.numpy() for a in args))
        np.testing.assert_allclose(got, expected.numpy(), **TOLERANCE)
    finally:
        loaded.release()


@pytest.mark.parametrize("name", ["mlp", "encoder"])
def test_vulkan_runs_the_gpu_storage_of_every_pattern(vulkan_models, name):
    compiled, *_ = vulkan_models[name]
    rows = [layer for layer in compiled.report if layer.pattern != "dense"]
    assert [(layer.pattern, layer.format) for layer in rows] == [("csr", "ell"), ("2:4", "nmell"), ("bsr16", "bell"), ("channels", "channels")]
    assert not any(layer.fallback for layer in rows)


@pytest.mark.parametrize("name", ["mlp", "encoder", "cnn"])
def test_vulkan_matches_eager_through_iree_run_module(vulkan_models, name, tmp_path):
    compiled, directory, args, expected = vulkan_models[name]
    inputs = []
    for i, arg in enumerate(args):
        np.save(tmp_path / f"x{i}.npy", arg.numpy())
        inputs.append(f"--input=@{tmp_path / f'x{i}.npy'}")
    tool = Path(sys.executable).parent / "iree-run-module"
    result = subprocess.run(
        [str(tool), f"--module={directory / 'model.vmfb'}", "--device=vulkan", f"--function={compiled.manifest.entry}",
         *inputs, f"--output=@{tmp_path / 'y.npy'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected.numpy(), **TOLERANCE)


def test_vulkan_takes_unaligned_arguments(vulkan_models):
    """Vulkan imports host memory only at 4096-byte alignment; the runtime copies what it cannot import."""
    compiled, _, args, expected = vulkan_models["mlp"]
    x = args[0].numpy()
    backing = np.empty(x.size + 1, dtype=x.dtype)
    unaligned = backing[1:].reshape(x.shape)
    unaligned[...] = x
    assert unaligned.ctypes.data % 4096 != 0 and unaligned.flags.c_contiguous
    np.testing.assert_allclose(compiled(unaligned), expected.numpy(), **TOLERANCE)


def test_vulkan_one_row_in_every_format():
    """One row is a GEMV on GPUs (ell's columns 32-bit on Vulkan: its 16-bit one-row code reads them wrongly;
    nmell's 8-bit places are read right)."""
    model, _ = _mlp_in_every_format()
    x = torch.randn(1, 64)
    compiled = sparsile.compile(model, (x,), target="vulkan", sparsity=REQUESTED["mlp"], cache=False)
    try:
        assert [layer.format for layer in compiled.report][:4] == ["ell", "nmell", "bell", "channels"]
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 3, 8])
@pytest.mark.parametrize("nm", ["2:4", "1:4", "2:8", "4:8"])
def test_vulkan_reads_n_of_m_places(nm, rows):
    """Every N:M pattern as nmell (values + 8-bit places), at one row (GEMV) and several, with bias and ReLU."""
    import pruning
    from models import MLP

    n, m = (int(v) for v in nm.split(":"))
    torch.manual_seed(n * 10 + m)
    model = MLP((256, 384, 64)).eval()
    pruning.n_of_m(model.layers[0], n, m)
    x = torch.randn(rows, 256)
    compiled = sparsile.compile(model, (x,), target="vulkan", sparsity={"layers.0": nm}, cache=False)
    try:
        (layer,) = [layer for layer in compiled.report if layer.pattern == nm]
        assert layer.format == "nmell" and not layer.fallback
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 3, 8, 32])
def test_vulkan_block_rows_at_any_row_count(rows):
    """bsr16 as bell: a GEMV at one row, gathered column blocks times dense blocks (a batch matmul) at more."""
    import pruning

    torch.manual_seed(rows)
    layer = torch.nn.Linear(256, 512).eval()
    pruning.blocks(layer, 0.8, 16)
    x = torch.randn(rows, 256)
    compiled = sparsile.compile(layer, (x,), target="vulkan", sparsity={"weight": "bsr16"}, cache=False)
    try:
        (row,) = compiled.report
        assert row.format == "bell" and not row.fallback
        assert ("linalg.batch_matmul" in compiled.ir("iree-input")) == (rows > 1)
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), layer(x), **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 8])
def test_vulkan_compacts_pruned_neurons(rows):
    """Half the hidden neurons of a 768-3072-768 MLP removed: both layers shrink to 1536 on Vulkan, as on cpu."""
    import pruning
    from models import MLP

    torch.manual_seed(0)
    model = MLP((768, 3072, 768)).eval()
    pruning.neurons(model.layers[0], 0.5)
    x = torch.randn(rows, 768)
    compiled = sparsile.compile(model, (x,), target="vulkan", cache=False)
    try:
        assert [(layer.pattern, layer.format) for layer in compiled.report] == [("channels", "channels"), ("dense", "dense")]
        assert not re.search(r"tensor<(\d+x)*3072x", compiled.ir("iree-handoff")), "a 3072-wide tensor reached IREE"
        with torch.no_grad():
            torch.testing.assert_close(compiled(x), model(x), **TOLERANCE)
    finally:
        compiled.release()


#: What GPU storage holds besides float32 weights: a weight dtype, or a quantization of a float32 weight.
PRECISIONS = ("f32", "f16", "bf16", "int8", "int4-g128")
GPU_FORMATS = {"ell": "csr", "nmell": "2:4", "bell": "bsr16"}


def _pruned_linear(pattern: str, seed: int, sizes: tuple[int, int] = (384, 256)) -> torch.nn.Linear:
    import pruning

    torch.manual_seed(seed)
    layer = torch.nn.Linear(*sizes).eval()
    {"csr": lambda: pruning.magnitude(layer, 0.9), "2:4": lambda: pruning.n_of_m(layer, 2, 4),
     "bsr16": lambda: pruning.blocks(layer, 0.8, 16)}[pattern]()
    return layer


def _precise(weight: torch.Tensor, precision: str) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(the weight a kernel stores, the float64 weight it multiplies by, the quantization) of a float32 weight."""
    import ml_dtypes

    from sparsile.passes.quantization import SCHEMES, quantize

    w = weight.detach().numpy()
    if precision in SCHEMES:
        return w, quantize(w, SCHEMES[precision]).dequantized().astype(np.float64), precision
    stored = w.astype({"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}[precision])
    return stored, stored.astype(np.float64), None


def _kernel_module(fmt: str, pattern: str, weight: np.ndarray, bias: np.ndarray, rows: int, quant: str | None) -> tuple[str, dict]:
    """A function computing ``relu(x @ W^T + bias)`` as one ``sparsile.matmul`` holding ``weight`` as ``fmt`` plans it on
    Vulkan (quantized with ``quant``): the ``kernels`` stage, whatever the model's own ops compile to there."""
    from sparsile.dialects.patterns import Pattern
    from sparsile.mlir import func, ir, new_context
    from sparsile.passes.formats import get_format
    from sparsile.passes.ir_build import constant
    from sparsile.passes.kernel_ops import create
    from sparsile.passes.quantization import SCHEMES

    storage_format, parsed = get_format(fmt), Pattern.parse(pattern)
    plan = storage_format.plan(parsed, weight, rows, "vulkan")
    assert plan is not None
    if quant:
        plan = storage_format.quantized_plan(plan, SCHEMES[quant], weight.shape, rows, "vulkan")
        assert plan is not None
    storage = storage_format.pack(weight, plan.params)
    n, k = weight.shape
    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        with ir.InsertionPoint(module.body):
            main = func.FuncOp("main", ir.FunctionType.get([ir.RankedTensorType.get([rows, k], f32)], [ir.RankedTensorType.get([rows, n], f32)]))
        with ir.InsertionPoint(main.add_entry_block()):
            arrays = {name: constant(array) for name, array in storage.items()}
            op = create(fmt, arrays, input=main.arguments[0], result_type=ir.RankedTensorType.get([rows, n], f32), shape=(n, k),
                        pattern=parsed, layer="w", params=plan.params, tiles=plan.tiles, epilogue="relu", bias=constant(bias))
            func.ReturnOp([op.results[0]])
        return str(module), storage


@pytest.mark.parametrize("rows", [1, 7, 33])
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("fmt", list(GPU_FORMATS))
def test_vulkan_reads_every_precision_of_every_gpu_format(fmt, precision, rows):
    """ell, nmell and bell in float32, float16, bfloat16, int8 and int4-g128, at one row (GEMV) and several, with bias
    and ReLU, against float64 with the weight the scheme gives (dequantized for int8/int4). On Vulkan the values
    narrower than 32 bits are stored in 32-bit words (IREE's own emulation of 8- and 16-bit buffers misreads them).
    Kernel-level: IREE's generic Vulkan target compiles no float16 or bfloat16 model at all."""
    layer = _pruned_linear(GPU_FORMATS[fmt], seed=rows)
    stored, reference, quant = _precise(layer.weight, precision)
    bias = layer.bias.detach().numpy()
    text, storage = _kernel_module(fmt, GPU_FORMATS[fmt], stored, bias, rows, quant)
    narrow = precision != "f32"
    assert storage["values"].dtype == (np.int32 if narrow else np.float32)
    compiled = sparsile.compile(text, target="vulkan", from_stage="kernels", cache=False)
    try:
        x = torch.randn(rows, stored.shape[1])
        expected = torch.relu(x.double() @ torch.from_numpy(reference).T + torch.from_numpy(bias).double())
        torch.testing.assert_close(compiled(x).double(), expected, **TOLERANCE)
    finally:
        compiled.release()


@pytest.mark.parametrize("rows", [1, 7, 33])
@pytest.mark.parametrize("quantize", ["int8", "int4-g128"])
def test_vulkan_runs_quantized_sparse_models(quantize, rows):
    """A model whose layers are stored as ell, nmell and bell, quantized: matches x @ dequantized(W)^T + b in float64
    (int8 row scales applied by the epilogue, int4 group scales in the contraction)."""
    import copy

    import pruning
    from models import MLP

    from sparsile.passes.quantization import SCHEMES
    from sparsile.passes.quantization import quantize as quantized

    torch.manual_seed(rows)
    model = MLP((384, 256, 256, 128)).eval()
    pruning.magnitude(model.layers[0], 0.9)
    pruning.n_of_m(model.layers[1], 2, 4)
    pruning.blocks(model.layers[2], 0.8, 16)
    x = torch.randn(rows, 384)
    compiled = sparsile.compile(model, (x,), target="vulkan", sparsity=dict(zip(("layers.0", "layers.1", "layers.2"), GPU_FORMATS.values())),
                                quantize=quantize, cache=False)
    try:
        assert [(layer.format, layer.fallback) for layer in compiled.report] == [("ell", ""), ("nmell", ""), ("bell", "")]
        assert all(f"({quantize} in 32-bit words)" in layer.storage for layer in compiled.report)
        reference = copy.deepcopy(model).double()
        with torch.no_grad():
            for layer in reference.layers:
                weight = layer.weight.float().numpy()
                layer.weight.copy_(torch.from_numpy(quantized(weight, SCHEMES[quantize]).dequantized()))
            expected = reference(x.double())
        torch.testing.assert_close(compiled(x).double(), expected, **TOLERANCE)
    finally:
        compiled.release()
