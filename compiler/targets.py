"""The target table: one row per deployment target.

A target names the IREE compiler flags that produce code for it and the IREE
runtime driver that runs the result; ``native-cpu`` instead goes through MLIR's
own sparsifier to LLVM and runs in process (it also takes sparse inputs). Specs are strings such as ``"cpu"``,
``"cpu:znver4"``, ``"cuda:sm_90"``, ``"rocm:gfx90a"`` or ``"vulkan:rdna3"``; the part
after the colon replaces the target's default chip.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownTargetError


@dataclass(frozen=True)
class Target:
    """A resolved target: its canonical name, chip and everything IREE needs."""

    name: str
    chip: str | None
    backend: str
    driver: str
    flags: tuple[str, ...]

    @property
    def is_native(self) -> bool:
        """Whether this target runs through MLIR's sparsifier and ExecutionEngine rather than IREE."""
        return self.backend == "native"

    @property
    def spec(self) -> str:
        """The string that resolves back to this target."""
        return f"{self.name}:{self.chip}" if self.chip else self.name


@dataclass(frozen=True)
class _TargetKind:
    backend: str
    driver: str
    device_flags: tuple[str, ...]
    chip_flag: str | None
    default_chip: str | None


_KINDS: dict[str, _TargetKind] = {
    "cpu": _TargetKind(
        backend="llvm-cpu",
        driver="local-task",
        # Data tiling (packed mmt4d ukernels) makes IREE's dense matmuls 8-22% faster on the
        # benchmark models (batch 1 to 1024 rows); it is off by default in IREE 3.13.
        device_flags=(
            "--iree-hal-target-device=local",
            "--iree-hal-local-target-device-backends=llvm-cpu",
            "--iree-global-opt-data-tiling=true",
        ),
        chip_flag="--iree-llvmcpu-target-cpu",
        default_chip="host",
    ),
    "cuda": _TargetKind(
        backend="cuda",
        driver="cuda",
        device_flags=("--iree-hal-target-device=cuda",),
        chip_flag="--iree-cuda-target",
        default_chip="sm_80",
    ),
    "rocm": _TargetKind(
        backend="rocm",
        driver="hip",
        device_flags=("--iree-hal-target-device=hip",),
        chip_flag="--iree-rocm-target",
        default_chip="gfx942",
    ),
    "vulkan": _TargetKind(
        backend="vulkan-spirv",
        driver="vulkan",
        device_flags=("--iree-hal-target-device=vulkan",),
        chip_flag="--iree-vulkan-target",
        default_chip=None,  # IREE's generic SPIR-V environment
    ),
    "native-cpu": _TargetKind(
        backend="native",
        driver="native",
        device_flags=(),
        chip_flag=None,
        default_chip=None,
    ),
}

_ALIASES = {
    "llvm-cpu": "cpu",
    "llvm_cpu": "cpu",
    "host": "cpu",
    "local": "cpu",
    "hip": "rocm",
    "vulkan-spirv": "vulkan",
    "vulkan_spirv": "vulkan",
    "spirv": "vulkan",
    "native": "native-cpu",
    "native_cpu": "native-cpu",
    "jit": "native-cpu",
}

TARGET_NAMES: tuple[str, ...] = tuple(_KINDS)


def resolve_target(spec: str | Target) -> Target:
    """Normalise a target spec (``"CPU"``, ``"llvm-cpu"``, ``"cuda:sm_90"``) into a :class:`Target`."""
    if isinstance(spec, Target):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise UnknownTargetError(repr(spec), TARGET_NAMES)
    raw_name, _, chip = spec.strip().partition(":")
    name = raw_name.strip().lower()
    name = _ALIASES.get(name, name)
    kind = _KINDS.get(name)
    if kind is None:
        raise UnknownTargetError(raw_name, TARGET_NAMES)
    chip = chip.strip() or kind.default_chip
    flags = list(kind.device_flags)
    if chip and kind.chip_flag:
        flags.append(f"{kind.chip_flag}={chip}")
    return Target(name=name, chip=chip, backend=kind.backend, driver=kind.driver, flags=tuple(flags))
