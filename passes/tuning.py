"""Measured choices (``tune=True``): a kernel's candidate storages and tiles, timed on this machine.

For each candidate (a storage format's packed storage and a tile configuration) the
kernel alone, ``x [rows, in] -> y [rows, out]`` without its epilogue, is lowered,
handed to IREE, compiled for the host CPU with the target's flags and called with
random activations until about :data:`SECONDS` have passed; the median call is its
time. ``schedule`` keeps the fastest. Times are cached on disk (``tuning/`` in the
artifact cache directory), keyed by the host CPU, the IREE flags, sparsile's version,
the layer's shape, rows and value type, and the candidate's format, parameters, tiles
and stored values, so a model tuned once is not timed again; an unusable cache only
means timing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import environment
from ..mlir import func, ir, passmanager, to_bytecode
from .formats.base import Plan, StorageFormat
from .ir_build import constant
from .kernel_lowering import lower_kernels
from .kernel_ops import create

#: Seconds of calls per candidate (after one warm-up call).
SECONDS = 0.2


def host_cpu() -> str:
    """The host CPU's model name (part of every tuning key)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    return next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name")), "unknown")


def measure(
    fmt: StorageFormat, plan: Plan, storage: dict[str, np.ndarray], *, shape: tuple[int, int], rows: int, pattern: str, flags: Sequence[str]
) -> float:
    """Seconds of one call of the kernel ``fmt`` runs ``plan`` with over ``storage`` at ``rows`` rows (cached)."""
    from .. import __version__

    key_data = {
        "cpu": host_cpu(), "flags": list(flags), "sparsile": __version__, "format": fmt.name, "shape": list(shape), "rows": rows,
        "pattern": pattern, "params": plan.params, "tiles": plan.tiles,
        "storage": {name: [str(a.dtype), list(a.shape), hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()]
                    for name, a in storage.items()},
    }
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True, default=str).encode()).hexdigest()
    cached = _read(key)
    if cached is not None:
        return cached
    seconds = _time_kernel(fmt, plan, storage, shape, rows, pattern, flags)
    _write(key, seconds, key_data)
    return seconds


def _time_kernel(fmt: StorageFormat, plan: Plan, storage: dict[str, np.ndarray], shape: tuple[int, int], rows: int, pattern: str,
                 flags: Sequence[str]) -> float:
    from ..iree_backend import compile_vmfb, handoff
    from ..runtime.iree_module import IreeModule

    n, k = shape
    f32 = ir.F32Type.get()
    with ir.Location.unknown():
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            x_type, y_type = ir.RankedTensorType.get([rows, k], f32), ir.RankedTensorType.get([rows, n], f32)
            entry = func.FuncOp("main", ir.FunctionType.get([x_type], [y_type]))
        with ir.InsertionPoint(entry.add_entry_block()):
            values = {name: constant(array) for name, array in storage.items()}
            kernel = create(fmt.name, values, input=entry.arguments[0], result_type=y_type, shape=shape, pattern=pattern,
                            layer="tuned", params=plan.params, tiles=plan.tiles)
            func.ReturnOp([kernel.results[0]])
        if not lower_kernels(module.operation, "cpu"):
            raise ValueError(f"{fmt.name} could not be lowered for tuning")
        passmanager.PassManager.parse("builtin.module(canonicalize)").run(module.operation)
        vmfb = compile_vmfb(handoff(to_bytecode(module), 0).bytecode, flags)
    runner = IreeModule(vmfb, "local-task", "main")
    try:
        x = np.random.default_rng(0).standard_normal((rows, k)).astype(np.float32)
        runner([x])
        times: list[float] = []
        deadline = time.perf_counter() + SECONDS
        while time.perf_counter() < deadline or len(times) < 5:
            start = time.perf_counter()
            runner([x])
            times.append(time.perf_counter() - start)
    finally:
        runner.release()
    return statistics.median(times)


def _directory() -> Path:
    return environment.cache_dir() / "tuning"


def _read(key: str) -> float | None:
    try:
        data = json.loads((_directory() / f"{key}.json").read_text())
        return float(data["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(key: str, seconds: float, about: dict[str, Any]) -> None:
    """Store a time atomically (a temporary file renamed into place); a cache that cannot be written is skipped."""
    directory = _directory()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump({"seconds": seconds, "about": {k: v for k, v in about.items() if k != "storage"}}, out)
        os.replace(tmp, directory / f"{key}.json")
    except OSError:
        return
