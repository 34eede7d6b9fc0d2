"""A compiled model ready to call: its manifest, its payload, and the checks at the call boundary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArtifactError, RuntimeLoadError
from ..manifest import Manifest, TensorSpec
from .device_tensor import DeviceTensor
from .output_structure import StructureError, count_leaves, rebuild
from .sparse_io import from_storage, storage_shapes, to_storage

VMFB_NAME = "model.vmfb"
NATIVE_NAME = "model.mlirbc"
IR_DIR = "ir"

StageText = str | Callable[[], str]


class LoadedModel:
    """A compiled model: call it with numpy arrays or torch tensors and get the same kind back.

    ``manifest`` describes it and ``ir(stage)`` shows the IR of a stage it kept. The
    payload is an IREE ``.vmfb``, or for ``native-cpu`` an LLVM-dialect module that is
    JIT-compiled in process (that needs torch-mlir; sparse torch tensors are accepted
    there). Outputs are torch tensors when any argument was one, numpy arrays otherwise.
    ``parameters`` maps each parameter scope the manifest names to its archive file.
    """

    def __init__(self, payload: bytes, manifest: Manifest, stage_ir: Mapping[str, StageText] | None = None,
                 parameters: Mapping[str, Path] | None = None):
        self._payload = payload
        self.manifest = manifest
        self._stage_ir: dict[str, StageText] = dict(stage_ir or {})
        self._parameters: dict[str, Path] = dict(parameters or {})
        missing = sorted(set(manifest.parameters) - set(self._parameters))
        if missing:
            raise ArtifactError(f"the module reads parameter scope(s) {', '.join(missing)} and no archive was given for them")
        self._module: Any = None
        # Per output, the arrays it travels as: fixed by the manifest, so counted once, not per call.
        self._result_counts = [len(storage_shapes(spec)) for spec in manifest.outputs]
        self._all_dense_outputs = all(spec.layout == "dense" for spec in manifest.outputs)
        structure = manifest.output_structure
        if structure is not None:
            try:
                leaves = count_leaves(structure)
            except StructureError as err:
                raise ArtifactError(f"the manifest's output structure is malformed: {err}") from None
            if leaves != len(manifest.outputs):
                raise ArtifactError(
                    f"the manifest's output structure holds {leaves} result(s) but it lists {len(manifest.outputs)} output(s)"
                )

    @property
    def payload(self) -> bytes:
        """The compiled module: a ``.vmfb`` flatbuffer, or LLVM-dialect bytecode for ``native-cpu``."""
        return self._payload

    @property
    def vmfb(self) -> bytes:
        """The IREE module flatbuffer (IREE targets only)."""
        if self.is_native:
            raise AttributeError("a native-cpu artifact has no .vmfb; see .payload")
        return self._payload

    @classmethod
    def class_for(cls, manifest: Manifest) -> type[LoadedModel]:
        """The class that serves an artifact with ``manifest`` (a causal LM's is :class:`~sparsile.runtime.CausalLM`)."""
        if manifest.generation is not None:
            from .causal_lm import CausalLM

            return CausalLM
        return cls

    @property
    def parameter_files(self) -> dict[str, Path]:
        """Parameter scope -> the archive the module reads its weights from (empty when they are in the payload)."""
        return dict(self._parameters)

    @property
    def is_native(self) -> bool:
        return self.manifest.target.get("backend") == "native"

    @property
    def report(self) -> Any:
        """The per-layer sparsity report (a :class:`sparsile.report.SparsityReport` of the manifest's ``layers``)."""
        from ..report import SparsityReport

        return SparsityReport.from_json(self.manifest.layers)

    def ir(self, stage: str) -> str:
        """The IR of ``stage`` (large constants elided), for the stages this model kept."""
        from ..stages import normalize_stage

        name = normalize_stage(stage)
        if name not in self._stage_ir:
            available = ", ".join(self._stage_ir) or "none"
            raise KeyError(f"no IR kept for stage '{name}'; available: {available}")
        value = self._stage_ir[name]
        return value() if callable(value) else value

    def __call__(self, *args: Any) -> Any:
        return rebuild(self.manifest.output_structure, self.call_flat(*args))

    def call_on_device(self, *args: Any) -> Any:
        """Call the model and keep its results in device memory, as :class:`DeviceTensor` s.

        Arguments may be numpy arrays, torch tensors or device tensors of an earlier call on
        the same driver (handed over without a copy); ``result.numpy()`` reads one back.
        """
        if self.is_native:
            raise ArgumentError("native-cpu runs in this process: its results are host arrays already; call the model")
        sparse = [spec.name for spec in self.manifest.outputs if spec.layout != "dense"]
        if sparse:
            raise ArgumentError(f"output(s) {', '.join(sparse)} are sparse: call_on_device keeps dense outputs only")
        arrays, _ = self._check_args(args)
        results = self.runtime_module()(arrays, on_device=True)
        if len(results) != len(self.manifest.outputs):
            raise ArtifactError(f"@{self.manifest.entry} returned {len(results)} result(s); the manifest lists {len(self.manifest.outputs)}")
        return rebuild(self.manifest.output_structure, results)

    def call_flat(self, *args: Any) -> list[Any]:
        """Call the model and return its results as a flat list (no output structure)."""
        arrays, as_torch = self._check_args(args)
        results = self.runtime_module()(arrays)
        if len(results) != sum(self._result_counts):
            raise ArtifactError(f"@{self.manifest.entry} returned {len(results)} result(s); the manifest lists {sum(self._result_counts)}")
        if self._all_dense_outputs:
            return [_to_torch(r) for r in results] if as_torch else list(results)
        out: list[Any] = []
        position = 0
        for spec, count in zip(self.manifest.outputs, self._result_counts):
            parts, position = results[position : position + count], position + count
            if spec.layout != "dense":
                out.append(from_storage(parts, spec))
            elif as_torch:
                out.append(_to_torch(parts[0]))
            else:
                out.append(parts[0])
        return out

    def runtime_module(self) -> Any:
        """The payload loaded into its runtime (the IREE runtime, or the JIT for ``native-cpu``)."""
        if self._module is None:
            if self.is_native:
                from .native import FlatArray, NativeModule

                results = [FlatArray(r, d) for spec in self.manifest.outputs for r, d in storage_shapes(spec)]
                self._module = NativeModule(self._payload, self.manifest.entry, results)
            else:
                from .iree_module import IreeModule

                _check_arch(self.manifest)
                self._module = IreeModule(self._payload, self.manifest.target["driver"], self.manifest.entry, self._parameters)
        return self._module

    def check_signature(self) -> None:
        """Compare the manifest's inputs and outputs (of every function it lists) with what the ``.vmfb`` declares;
        ArtifactError on a mismatch."""
        if self.is_native:
            return
        module = self.runtime_module()
        functions = {self.manifest.entry: {"inputs": self.manifest.inputs, "outputs": self.manifest.outputs}, **self.manifest.functions}
        for name, specs in functions.items():
            try:
                declared = module.signature_of(name)
            except RuntimeLoadError:
                raise ArtifactError(f"the manifest lists a function @{name} that {VMFB_NAME} does not export; recompile the model") from None
            if declared is not None:
                _check_declared(name, specs["inputs"], specs["outputs"], declared)

    def release(self) -> None:
        """Free the runtime module now; the next call loads it again."""
        if self._module is not None:
            self._module.release()
            self._module = None

    def _check_args(self, args: tuple[Any, ...]) -> tuple[list[Any], bool]:
        specs = self.manifest.inputs
        if len(args) != len(specs):
            expected = ", ".join(f"{s.name}: {s.describe()}" for s in specs)
            raise ArgumentError(f"@{self.manifest.entry} takes {len(specs)} argument(s) ({expected}), got {len(args)}")
        arrays: list[Any] = []
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


def _check_declared(name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], declared: Any) -> None:
    for kind, specs, actual in (("input", inputs, declared.inputs), ("output", outputs, declared.outputs)):
        if len(specs) != len(actual):
            raise ArtifactError(
                f"the manifest lists {len(specs)} {kind}(s) but {VMFB_NAME}'s @{name} has {len(actual)}: "
                "the manifest does not describe this module; recompile the model"
            )
        for i, (spec, (shape, dtype)) in enumerate(zip(specs, actual)):
            if tuple(spec.shape) != shape or spec.dtype != dtype:
                got = TensorSpec(spec.name, shape, dtype).describe()
                raise ArtifactError(
                    f"{kind} {i} ({spec.name}) is {spec.describe()} in the manifest but {got} in {VMFB_NAME}: "
                    "the manifest does not describe this module; recompile the model"
                )


def _check_arch(manifest: Manifest) -> None:
    """A cross-compiled artifact runs only on its architecture: say so rather than fail in IREE."""
    import platform

    arch = manifest.target.get("arch")
    host = {"arm64": "aarch64", "amd64": "x86_64"}.get(platform.machine().lower(), platform.machine().lower())
    if arch and arch != host:
        raise RuntimeLoadError(
            f"this artifact was compiled for {manifest.target.get('triple', arch)} and this machine is {host}: run it where the "
            f"CPU is {arch} (sparsile.runtime, or the stock iree-run-module --device=local-task), or under qemu-{arch}"
        )


def _is_torch_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


#: numpy / torch dtype -> its numpy spelling (numpy's ``dtype.name`` takes microseconds: every call asks).
_DTYPE_NAMES: dict[Any, str] = {}


def _dtype_name(value: Any) -> str:
    dtype = value.dtype
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = dtype.name if isinstance(dtype, np.dtype) else str(dtype).removeprefix("torch.")
        _DTYPE_NAMES[dtype] = name
    return name


def _as_array(arg: Any, index: int, spec: TensorSpec) -> tuple[Any, bool]:
    where = f"argument {index} ({spec.name})"
    is_torch = _is_torch_tensor(arg)
    is_device = isinstance(arg, DeviceTensor)
    if not (is_torch or is_device or isinstance(arg, np.ndarray)):
        raise ArgumentError(f"{where}: expected a torch.Tensor, numpy.ndarray or DeviceTensor, got {type(arg).__name__}")
    shape = tuple(arg.shape)
    dtype = _dtype_name(arg)
    if not spec.accepts(shape) or dtype != spec.dtype:
        got = f"{dtype}[{', '.join(str(d) for d in shape)}]"
        raise ArgumentError(f"{where}: expected {spec.describe()}, got {got}")
    if is_device:
        return arg, False
    if is_torch:
        import torch

        if arg.layout is not torch.strided:
            hint = " (sparse inputs need target 'native-cpu' and a sparse example argument)"
            raise ArgumentError(f"{where}: expected a dense (strided) tensor, got layout {arg.layout}{hint}")
        return _from_torch(arg.detach().cpu().contiguous()), True
    return np.ascontiguousarray(arg), False


def _from_torch(tensor: Any) -> np.ndarray:
    """A numpy copy of a strided torch tensor; bfloat16 (which numpy lacks) as ml_dtypes' bfloat16."""
    import torch

    if tensor.dtype == torch.bfloat16:
        import ml_dtypes  # a dependency of iree-base-runtime, for IREE's bf16 buffers

        return np.ascontiguousarray(tensor.view(torch.int16).numpy().view(ml_dtypes.bfloat16))
    return np.ascontiguousarray(tensor.numpy())


def _to_torch(array: np.ndarray) -> Any:
    import torch

    if array.dtype.kind == "V" and _dtype_name(array) == "bfloat16":  # ml_dtypes' types are numpy void kinds
        return torch.from_numpy(np.ascontiguousarray(array).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


