"""The storage contract: a kernel's storage is written once, by schedule, and read as it is.

Every storage format packs and unpacks exactly on every target it plans for; the verifier
accepts what it packs; and through the stages of a real compile the arrays of the
``kernels`` stage reach the ``iree-input`` (and ``native-input``) IR unchanged, with no
dense copy of a sparse weight left beside them.
"""

from __future__ import annotations

import numpy as np
import pruning
import pytest
import torch

import sparsile
from sparsile.dialects.patterns import Pattern
from sparsile.mlir import ir, new_context
from sparsile.passes.formats import all_formats, format_names
from sparsile.passes.formats.base import TARGET_FAMILIES
from sparsile.passes.ir_query import walk_ops
from sparsile.passes.kernel_ops import Kernel, is_kernel

ROWS = (1, 3, 31, 33, 197)


def planted(pattern: Pattern, shape: tuple[int, int], seed: int) -> np.ndarray:
    """A float32 weight of ``shape`` with ``pattern``."""
    rng = np.random.default_rng(seed)
    weight = rng.uniform(0.1, 1.0, shape).astype(np.float32) * rng.choice([-1, 1], shape)
    rows, cols = shape
    if pattern.kind.value == "csr":
        weight *= rng.random(shape) < 0.2
    elif pattern.kind.value == "nm":
        groups = weight.reshape(rows, -1, pattern.m)
        drop = np.argsort(rng.random(groups.shape), axis=2)[:, :, pattern.n :]
        np.put_along_axis(groups, drop, 0.0, axis=2)
    elif pattern.kind.value == "bsr":
        b = pattern.block
        weight *= np.kron(rng.random((rows // b, cols // b)) < 0.3, np.ones((b, b), np.float32))
    elif pattern.kind.value == "channels":
        weight *= np.outer(rng.random(rows) < 0.5, rng.random(cols) < 0.7)
        weight[0, 0] = 1.0
    return weight


CASES = [
    ("csr", (48, 70)),
    ("csr", (5, 3)),
    ("2:4", (128, 64)),
    ("2:4", (96, 36)),
    ("4:8", (32, 64)),
    ("1:4", (16, 20)),
    ("bsr16", (64, 96)),
    ("bsr4", (12, 8)),
    ("channels", (40, 24)),
    ("dense", (7, 9)),
]


def test_every_format_is_covered():
    assert format_names() == ["bell", "bitmask", "bsr", "channels", "csr", "dense", "ell", "nm", "nmell"]
    held = {f.name for f in all_formats() for p, _ in CASES if f.holds(Pattern.parse(p))}
    assert held == set(format_names()), "every format stores some case below"


@pytest.mark.parametrize("text,shape", CASES, ids=[f"{p}-{s[0]}x{s[1]}" for p, s in CASES])
def test_pack_unpack_round_trips_on_every_plan(text, shape):
    pattern = Pattern.parse(text)
    weight = planted(pattern, shape, seed=len(text) + shape[0])
    plans = 0
    for fmt in all_formats():
        if not fmt.holds(pattern):
            continue
        for target in TARGET_FAMILIES:
            for rows in ROWS:
                plan = fmt.plan(pattern, weight, rows, target)
                if plan is None:
                    continue
                plans += 1
                storage = fmt.pack(weight, plan.params)
                assert list(storage) == list(fmt.storage_names(plan.params))
                np.testing.assert_array_equal(fmt.unpack(storage, plan.params, shape), weight)
                assert fmt.content_problem(storage, plan.params, shape) is None
                assert 0 < fmt.stored_values(storage, plan.params) <= weight.size or not weight.any()
                assert fmt.describe(plan.params)
    assert plans, f"no format plans {text} anywhere"


def test_the_verifier_accepts_what_schedule_packs():
    """A kernel op built from every plan verifies (the verifier asks the format about its storage)."""
    from sparsile.mlir import func
    from sparsile.passes.ir_build import constant
    from sparsile.passes.kernel_ops import create

    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        for text, shape in CASES:
            pattern = Pattern.parse(text)
            weight = planted(pattern, shape, seed=3)
            for fmt, target in ((f, t) for f in all_formats() for t in ("cpu", "gpu")):
                plan = fmt.plan(pattern, weight, 1, target) if fmt.holds(pattern) else None
                if plan is None:
                    continue
                f32 = ir.F32Type.get()
                with ir.InsertionPoint(module.body):
                    f = func.FuncOp(f"{fmt.name}_{target}_{shape[0]}", ir.FunctionType.get([ir.RankedTensorType.get([1, shape[1]], f32)], []))
                with ir.InsertionPoint(f.add_entry_block()):
                    storage = {name: constant(array) for name, array in fmt.pack(weight, plan.params).items()}
                    create(fmt.name, storage, input=f.arguments[0], result_type=ir.RankedTensorType.get([1, shape[0]], f32),
                           shape=shape, pattern=pattern, layer="w", params=plan.params, tiles=plan.tiles)
                    func.ReturnOp([])
        assert module.operation.verify()


#: The precisions GPU storage holds besides float32: (weight dtype, quantization, bits per stored value).
PRECISIONS = [("f16", None, 16), ("bf16", None, 16), ("f32", "int8", 8), ("f32", "int4-g128", 4)]
GPU_CASES = [case for case in CASES if case[0] not in ("channels", "dense")]


def _dtype(name: str) -> np.dtype:
    import ml_dtypes

    return np.dtype({"f32": np.float32, "f16": np.float16, "bf16": ml_dtypes.bfloat16}[name])


def _gpu_plans(pattern: Pattern, weight: np.ndarray, quant: str | None):
    """(format, family, rows, plan) of every GPU storage format planning ``weight`` (quantized with ``quant``)."""
    from sparsile.passes.quantization import SCHEMES

    for fmt in (f for f in all_formats() if f.name in ("ell", "nmell", "bell") and f.holds(pattern)):
        for family in ("gpu", "vulkan"):
            for rows in (1, 3):
                plan = fmt.plan(pattern, weight, rows, family)
                if plan is not None and quant:
                    plan = fmt.quantized_plan(plan, SCHEMES[quant], weight.shape, rows, family)
                if plan is not None:
                    yield fmt, family, rows, plan


@pytest.mark.parametrize("dtype,quant,bits", PRECISIONS, ids=[q or d for d, q, _ in PRECISIONS])
@pytest.mark.parametrize("text,shape", GPU_CASES, ids=[f"{p}-{s[0]}x{s[1]}" for p, s in GPU_CASES])
def test_gpu_storage_holds_every_precision(text, shape, dtype, quant, bits):
    """ell, nmell and bell keep half-precision values in 16 bits and quantized ones in 8 or 4 (in 32-bit
    words on Vulkan); unpacking gives back the weight exactly (quantized: the scheme's dequantized weight)."""
    from sparsile.passes.quantization import SCHEMES, quantize

    pattern = Pattern.parse(text)
    weight = planted(pattern, shape, seed=len(text) + shape[0]).astype(_dtype(dtype))
    expected = quantize(weight, SCHEMES[quant]).dequantized() if quant else weight
    plans = 0
    for fmt, family, rows, plan in _gpu_plans(pattern, weight, quant):
        plans += 1
        where = f"{fmt.name} on {family} at {rows} rows"
        storage = fmt.pack(weight, plan.params)
        assert list(storage) == list(fmt.storage_names(plan.params)), where
        unpacked = fmt.unpack(storage, plan.params, shape)
        assert unpacked.dtype == expected.dtype, where
        np.testing.assert_array_equal(unpacked, expected, err_msg=where)
        assert fmt.content_problem(storage, plan.params, shape) is None, where
        assert storage["values"].nbytes * 8 == fmt.stored_values(storage, plan.params) * bits, where
        assert storage["values"].dtype == (np.int32 if family == "vulkan" else np.int8 if quant else weight.dtype), where
        if quant:
            groups = -(-shape[1] // 128)
            assert storage["scales"].shape == ((shape[0], groups) if quant == "int4-g128" else (shape[0],)), where
    assert plans, f"no GPU format stores {text} {shape} as {quant or dtype}"


def test_the_verifier_accepts_every_gpu_precision():
    """A kernel op holding what the GPU formats pack in every precision verifies."""
    from sparsile.mlir import func
    from sparsile.passes.ir_build import constant
    from sparsile.passes.kernel_ops import create

    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        built = 0
        for text, shape in GPU_CASES:
            pattern = Pattern.parse(text)
            for dtype, quant, _ in PRECISIONS:
                weight = planted(pattern, shape, seed=5).astype(_dtype(dtype))
                for fmt, _, rows, plan in _gpu_plans(pattern, weight, quant):
                    f32 = ir.F32Type.get()
                    with ir.InsertionPoint(module.body):
                        f = func.FuncOp(f"k{built}", ir.FunctionType.get([ir.RankedTensorType.get([rows, shape[1]], f32)], []))
                    with ir.InsertionPoint(f.add_entry_block()):
                        storage = {name: constant(array) for name, array in fmt.pack(weight, plan.params).items()}
                        create(fmt.name, storage, input=f.arguments[0], result_type=ir.RankedTensorType.get([rows, shape[0]], f32),
                               shape=shape, pattern=pattern, layer="w", params=plan.params, tiles=plan.tiles)
                        func.ReturnOp([])
                    built += 1
        assert built and module.operation.verify()


class FourWays(torch.nn.Module):
    """One layer per storage: unstructured, 2:4, blocks, kept channels (the last, so nothing compacts it away)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(64, 128)
        self.b = torch.nn.Linear(128, 128)
        self.c = torch.nn.Linear(128, 64)
        self.d = torch.nn.Linear(64, 48)
        pruning.magnitude(self.a, 0.85)
        pruning.n_of_m(self.b, 2, 4)
        pruning.blocks(self.c, 0.7, 16)
        with torch.no_grad():
            self.d.weight[::2] = 0
            self.d.weight[:, ::3] = 0

    def forward(self, x):
        return self.d(torch.relu(self.c(torch.relu(self.b(torch.relu(self.a(x)))))))


REQUESTED = {"a": "csr", "b": "2:4", "c": "bsr16", "d": "channels"}


def _kernels(text: str) -> list[tuple[str, str, dict[str, np.ndarray], np.ndarray]]:
    """(layer, format, storage arrays, unpacked weight) of every kernel op, copied out of the module."""
    module = ir.Module.parse(text)
    out = []
    for op in walk_ops(module.operation):
        if is_kernel(op):
            kernel = Kernel(op)
            storage = kernel.storage_arrays()
            dense = kernel.dense_weight()
            assert storage is not None and dense is not None
            out.append((kernel.layer, kernel.format_name, {k: np.array(v) for k, v in storage.items()}, np.array(dense)))
    return out


def _constants(text: str) -> list[np.ndarray]:
    from sparsile.constants import constant_array

    module = ir.Module.parse(text)
    return [np.array(a) for a in (constant_array(op) for op in walk_ops(module.operation)) if a is not None]


def _present(array: np.ndarray, constants: list[np.ndarray]) -> bool:
    """Whether a constant holds exactly these bytes in this order (a reshape is no repack)."""
    return any(c.dtype == array.dtype and c.size == array.size and np.array_equal(c.ravel(), array.ravel()) for c in constants)


def _runs_here(target: str) -> bool:
    """Whether this machine has a device for ``target`` (cpu and native-cpu always do)."""
    driver = {"cuda": "cuda", "rocm": "hip", "vulkan": "vulkan"}.get(target)
    if driver is None:
        return True
    from sparsile.runtime import get_device

    try:
        get_device(driver)
    except sparsile.RuntimeLoadError:
        return False
    return True


@pytest.mark.parametrize("target,rows,stage", [("cpu", 1, "iree-input"), ("cpu", 33, "iree-input"), ("native-cpu", 5, "native-input"),
                                               ("cuda", 1, "iree-input"), ("rocm", 8, "iree-input"), ("vulkan", 1, "iree-input"),
                                               ("vulkan", 8, "iree-input")])
def test_storage_reaches_the_backend_as_it_is(target, rows, stage):
    """The kernels' storage arrays reach the backend's input unchanged; runs where the target's device exists."""
    model, x = FourWays().eval(), torch.randn(rows, 64)
    options = {"target": target, "sparsity": REQUESTED, "elide_limit": None, "cache": False}
    with new_context():
        kernels = _kernels(sparsile.lower(model, (x,), "kernels", **options))
        lowered = _constants(sparsile.lower(model, (x,), stage, **options))
    assert [layer for layer, _, _, _ in kernels] == ["a.weight", "b.weight", "c.weight", "d.weight"]
    weights = {f"{name}.weight": getattr(model, name).weight.detach().numpy() for name in REQUESTED}
    for layer, fmt, storage, dense in kernels:
        assert fmt != "dense", f"{layer} was requested sparse"
        np.testing.assert_array_equal(dense, weights[layer], err_msg=layer)
        for name, array in storage.items():
            assert _present(array, lowered), f"{layer}: storage '{name}' of format {fmt} was repacked on the way to {stage}"
        if fmt != "channels":
            assert not _present(dense, lowered), f"{layer}: a dense copy of the weight reached {stage}"
    compiled = sparsile.compile(model, (x,), target=target, sparsity=REQUESTED, cache=False)
    assert [l.format for l in compiled.report] == [fmt for _, fmt, _, _ in kernels]
    if _runs_here(target):
        torch.testing.assert_close(compiled(x), model(x).detach(), rtol=1e-4, atol=1e-5)
