"""CompiledModel: a compiled artifact in memory, callable like the torch model."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .dtypes import dtype_name_of
from .errors import ArgumentError
from .manifest import Manifest, TensorSpec
from .output_tree import OutputTree
from .sparse_io import from_storage, storage_shapes, to_storage
from .sparsity_report import SparsityReport
from .stages import dump_name, normalize_stage

VMFB_NAME = "model.vmfb"
NATIVE_NAME = "model.mlirbc"
MANIFEST_NAME = "manifest.json"
IR_DIR = "ir"


class CompiledModel:
    """A compiled model: call it with torch tensors or numpy arrays and get the same kind back.

    ``manifest`` describes it, ``ir(stage)`` shows the IR of a stage, ``save(dir)``
    writes a deployable artifact directory that ``sparsile.load`` reads back. The
    payload is an IREE ``.vmfb``, or for ``native-cpu`` an LLVM-dialect module that is
    JIT-compiled in process (sparse torch tensors are accepted there).
    """

    def __init__(
        self,
        payload: bytes,
        manifest: Manifest,
        stage_ir: Mapping[str, str | Path],
        output_tree: OutputTree,
    ):
        self._payload = payload
        self.manifest = manifest
        self._stage_ir = dict(stage_ir)
        self._output_tree = output_tree
        self._module: Any = None

    @property
    def payload(self) -> bytes:
        """The compiled module: a ``.vmfb`` flatbuffer, or LLVM-dialect bytecode for ``native-cpu``."""
        return self._payload

    @property
    def vmfb(self) -> bytes:
        """The IREE module flatbuffer (IREE targets only)."""
        if self.is_native:
            raise AttributeError("a native-cpu artifact has no .vmfb; see .payload and .write_object()")
        return self._payload

    @property
    def is_native(self) -> bool:
        return self.manifest.target.get("backend") == "native"

    @property
    def report(self) -> SparsityReport:
        """The per-layer sparsity report (the manifest's ``layers``)."""
        return SparsityReport.from_json(self.manifest.layers)

    def ir(self, stage: str) -> str:
        """The IR of ``stage`` (large constants elided), for the stages this compile produced."""
        name = normalize_stage(stage)
        if name not in self._stage_ir:
            available = ", ".join(self._stage_ir) or "none"
            raise KeyError(f"no IR kept for stage '{name}'; available: {available}")
        value = self._stage_ir[name]
        return value.read_text() if isinstance(value, Path) else value

    def __call__(self, *args: Any) -> Any:
        return self._output_tree.unflatten(self.call_flat(*args))

    def call_flat(self, *args: Any) -> list[Any]:
        """Call the model and return its results as a flat list (no output structure)."""
        arrays, as_torch = self._check_args(args)
        results = iter(self._runtime_module()(arrays))
        out: list[Any] = []
        for spec in self.manifest.outputs:
            parts = [next(results) for _ in storage_shapes(spec)]
            if spec.layout != "dense":
                out.append(from_storage(parts, spec))
            elif as_torch:
                import torch

                out.append(torch.from_numpy(parts[0]))
            else:
                out.append(parts[0])
        return out

    def write_object(self, path: str | os.PathLike[str]) -> Path:
        """``native-cpu`` only: write the JIT-compiled code as an object file (C interface ``_mlir_ciface_<entry>``)."""
        if not self.is_native:
            raise AttributeError("write_object() is for native-cpu artifacts; an IREE artifact's code is its .vmfb")
        return self._runtime_module().write_object(path)

    def _runtime_module(self) -> Any:
        if self._module is None:
            if self.is_native:
                from .runtime.native import FlatArray, NativeModule

                results = [FlatArray(r, d) for spec in self.manifest.outputs for r, d in storage_shapes(spec)]
                self._module = NativeModule(self._payload, self.manifest.entry, results)
            else:
                from .runtime import LoadedModule

                self._module = LoadedModule(self._payload, self.manifest.target["driver"], self.manifest.entry)
        return self._module

    def release(self) -> None:
        """Free the runtime module now; the next call loads it again."""
        if self._module is not None:
            self._module.release()
            self._module = None

    def save(self, directory: str | os.PathLike[str], *, include_ir: bool = True) -> Path:
        """Write the payload (``model.vmfb``), ``manifest.json`` and (optionally) ``ir/`` into ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        _atomic_write(path / self.manifest.payload, self._payload)
        if include_ir:
            for stage in self._stage_ir:
                _atomic_write(path / IR_DIR / dump_name(stage), self.ir(stage).encode())
        # The manifest goes last: a directory with a manifest is a complete artifact.
        _atomic_write(path / MANIFEST_NAME, self.manifest.to_json().encode())
        return path

    def _check_args(self, args: tuple[Any, ...]) -> tuple[list[np.ndarray], bool]:
        specs = self.manifest.inputs
        if len(args) != len(specs):
            expected = ", ".join(f"{s.name}: {s.describe()}" for s in specs)
            raise ArgumentError(
                f"@{self.manifest.entry} takes {len(specs)} argument(s) ({expected}), got {len(args)}"
            )
        arrays: list[np.ndarray] = []
        torch_args = 0
        for i, (arg, spec) in enumerate(zip(args, specs)):
            if spec.layout != "dense":
                arrays.extend(to_storage(arg, spec, f"argument {i} ({spec.name})"))
                torch_args += 1
                continue
            array, is_torch = _as_array(arg, i, spec)
            torch_args += is_torch
            arrays.append(array)
        return arrays, torch_args > 0


def _as_array(arg: Any, index: int, spec: TensorSpec) -> tuple[np.ndarray, bool]:
    where = f"argument {index} ({spec.name})"
    is_torch = type(arg).__module__.startswith("torch") and hasattr(arg, "detach")
    if not (is_torch or isinstance(arg, np.ndarray)):
        raise ArgumentError(f"{where}: expected a torch.Tensor or numpy.ndarray, got {type(arg).__name__}")
    shape = tuple(arg.shape)
    dtype = dtype_name_of(arg)
    if not spec.accepts(shape) or dtype != spec.dtype:
        got = f"{dtype}[{', '.join(str(d) for d in shape)}]"
        raise ArgumentError(f"{where}: expected {spec.describe()}, got {got}")
    if is_torch:
        import torch

        if arg.layout is not torch.strided:
            hint = " (sparse inputs need target 'native-cpu' and a sparse example argument)"
            raise ArgumentError(f"{where}: expected a dense (strided) tensor, got layout {arg.layout}{hint}")
        return np.ascontiguousarray(arg.detach().cpu().numpy()), True
    return np.ascontiguousarray(arg), False


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

