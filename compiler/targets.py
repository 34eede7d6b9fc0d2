"""The target table: one row per deployment target.

A target names the IREE compiler flags that produce code for it and the IREE
runtime driver that runs the result; ``native-cpu`` instead goes through MLIR's
own sparsifier to LLVM and runs in process (it also takes sparse inputs). Specs are strings such as ``"cpu"``,
``"cpu:znver4"``, ``"cuda:sm_86"``, ``"rocm:gfx90a"`` or ``"vulkan:rdna3"``; the part
after the colon replaces the target's default chip. ``cpu:aarch64[:<cpu>]``,
``cpu:x86_64[:<cpu>]`` and ``cpu:riscv64[:<cpu>]`` cross-compile for that architecture
(Linux, CPU ``generic`` unless named): the artifact runs on such a machine, not here. A chip other than the default is
checked with IREE's own compiler before a compile starts
(:func:`sparsile.iree_backend.check_chip`), so a misspelt one fails at once.
"""

from __future__ import annotations

import functools
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UnknownChipError, UnknownTargetError

_CHIP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


@dataclass(frozen=True)
class _Arch:
    triple: str
    default_cpu: str
    #: Flags every compile for the architecture needs (ABI, baseline features).
    flags: tuple[str, ...] = ()


#: Architectures ``cpu:<arch>[:<cpu>]`` cross-compiles for.
CPU_ARCHES: dict[str, _Arch] = {
    "aarch64": _Arch("aarch64-linux-gnu", "generic"),
    "x86_64": _Arch("x86_64-linux-gnu", "generic"),
    # RV64GC with hardware floats: without +f/+d LLVM calls soft-float helpers (__mulsf3)
    # that IREE's embedded linker does not provide.
    "riscv64": _Arch("riscv64-linux-gnu", "generic-rv64",
                     ("--iree-llvmcpu-target-cpu-features=+m,+a,+f,+d,+c", "--iree-llvmcpu-target-abi=lp64d")),
}
#: x86-64 CPU names (LLVM's) with AVX-512 VBMI2.
_EXPAND_CPUS = frozenset({
    "icelake-client", "icelake-server", "tigerlake", "rocketlake", "sapphirerapids", "emeraldrapids",
    "graniterapids", "graniterapids-d", "diamondrapids", "znver4", "znver5",
})
#: x86-64 CPU names (LLVM's) with AVX2 (and so ``vpermps`` / ``vpermd``), the VBMI2 ones included.
_PERMUTE_CPUS = _EXPAND_CPUS | frozenset({
    "haswell", "broadwell", "skylake", "skylake-avx512", "cascadelake", "cooperlake", "cannonlake",
    "alderlake", "raptorlake", "meteorlake", "arrowlake", "arrowlake-s", "lunarlake", "pantherlake",
    "gracemont", "sierraforest", "grandridge", "clearwaterforest",
    "znver1", "znver2", "znver3", "x86-64-v3", "x86-64-v4",
})


@functools.cache
def _host_cpu_flags() -> frozenset[str]:
    """The host CPU's feature flags (Linux ``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def host_vector_isa() -> str:
    """The widest vector instruction set of the host CPU that changes what the kernels cost:
    ``avx512``, ``avx2``, or the machine's architecture where neither applies."""
    flags = _host_cpu_flags()
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return platform.machine() or "unknown"


_ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "x86-64": "x86_64", "riscv": "riscv64"}


@dataclass(frozen=True)
class Target:
    """A resolved target: its canonical name, chip and everything IREE needs."""

    name: str
    chip: str | None
    backend: str
    driver: str
    flags: tuple[str, ...]
    #: The code-generation family the passes choose storage and lowerings for: cpu, gpu, vulkan or native.
    family: str = "cpu"
    #: Whether ``chip`` is the target's default (known to work; not probed).
    default_chip: bool = True
    #: The architecture of a cross-compiled ``cpu:<arch>`` target (None: the host's).
    arch: str | None = None
    #: Its LLVM target triple.
    triple: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        """What the code generated for this target can count on that some storage formats need.

        ``vector-expand``: AVX-512 with VBMI2, whose ``vexpandps`` / ``vpexpandw`` / ``vpexpandb``
        put a tile's packed nonzeros back in their lanes (LLVM scalarises ``expandload``
        elsewhere, which is correct but slower than dense). ``vector-permute``: AVX2, whose
        ``vpermps`` moves eight float32 lanes by a vector of indices (the ``bitmask``
        kernel's expand where VBMI2 is missing). The host CPU's flags for ``cpu``, tables of
        CPU names for ``cpu:<name>`` and ``cpu:x86_64:<name>``.
        """
        if self.family != "cpu" or self.arch not in (None, "x86_64"):
            return ()
        if self.chip == "host":
            flags = _host_cpu_flags()
            expand = {"avx512f", "avx512_vbmi2"} <= flags
            permute = "avx2" in flags
        else:
            expand, permute = self.chip in _EXPAND_CPUS, self.chip in _PERMUTE_CPUS
        return (("vector-expand",) if expand else ()) + (("vector-permute",) if permute else ())

    @property
    def is_native(self) -> bool:
        """Whether this target runs through MLIR's sparsifier and ExecutionEngine rather than IREE."""
        return self.backend == "native"

    @property
    def spec(self) -> str:
        """The string that resolves back to this target."""
        if self.arch:
            return f"{self.name}:{self.arch}:{self.chip}"
        return f"{self.name}:{self.chip}" if self.chip else self.name


@dataclass(frozen=True)
class _TargetKind:
    backend: str
    driver: str
    family: str
    device_flags: tuple[str, ...]
    chip_flag: str | None
    default_chip: str | None


_KINDS: dict[str, _TargetKind] = {
    "cpu": _TargetKind(
        backend="llvm-cpu",
        family="cpu",
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
        family="gpu",
        driver="cuda",
        device_flags=("--iree-hal-target-device=cuda",),
        chip_flag="--iree-cuda-target",
        default_chip="sm_80",
    ),
    "rocm": _TargetKind(
        backend="rocm",
        family="gpu",
        driver="hip",
        device_flags=("--iree-hal-target-device=hip",),
        chip_flag="--iree-rocm-target",
        default_chip="gfx942",
    ),
    "vulkan": _TargetKind(
        backend="vulkan-spirv",
        family="vulkan",
        driver="vulkan",
        device_flags=("--iree-hal-target-device=vulkan",),
        chip_flag="--iree-vulkan-target",
        default_chip=None,  # IREE's generic SPIR-V environment
    ),
    "native-cpu": _TargetKind(
        backend="native",
        family="native",
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
    if chip.strip() and kind.chip_flag is None:
        raise UnknownChipError(f"target '{name}' takes no chip, got '{chip.strip()}'; write '{name}'")
    head, _, rest = chip.strip().partition(":")
    arch_name = _ARCH_ALIASES.get(head.lower(), head.lower())
    if name == "cpu" and arch_name in CPU_ARCHES:
        return _cross_cpu(kind, arch_name, rest.strip())
    if rest:
        raise UnknownChipError(f"target '{name}' takes one chip, got '{chip.strip()}'; cross-compiling takes "
                               f"cpu:<arch>[:<cpu>] with arch one of {', '.join(CPU_ARCHES)}")
    resolved = chip.strip() or kind.default_chip
    if resolved is not None and not _CHIP_NAME.fullmatch(resolved):
        raise UnknownChipError(f"chip {resolved!r} of target '{name}' is not a chip name (letters, digits, '_', '-', '.')")
    flags = list(kind.device_flags)
    if resolved and kind.chip_flag:
        flags.append(f"{kind.chip_flag}={resolved}")
    return Target(
        name=name,
        chip=resolved,
        backend=kind.backend,
        driver=kind.driver,
        flags=tuple(flags),
        family=kind.family,
        default_chip=resolved == kind.default_chip,
    )


def _cross_cpu(kind: _TargetKind, arch_name: str, cpu: str) -> Target:
    arch = CPU_ARCHES[arch_name]
    resolved = cpu or arch.default_cpu
    if not _CHIP_NAME.fullmatch(resolved):
        raise UnknownChipError(f"CPU {resolved!r} of target 'cpu:{arch_name}' is not a CPU name (letters, digits, '_', '-', '.')")
    flags = (*kind.device_flags, f"--iree-llvmcpu-target-triple={arch.triple}", f"{kind.chip_flag}={resolved}", *arch.flags)
    return Target(name="cpu", chip=resolved, backend=kind.backend, driver=kind.driver, flags=flags, family=kind.family,
                  default_chip=resolved == arch.default_cpu, arch=arch_name, triple=arch.triple)
