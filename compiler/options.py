"""CompileOptions: every knob of a compile, with its default."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dialects.patterns import Pattern
from .errors import SparsileError
from .stages import normalize_stage
from .targets import Target, resolve_target

#: The names ``quantize=`` takes (:data:`sparsile.passes.quantization.SCHEMES`; listed here so options import no passes).
QUANTIZATION_SCHEMES = ("int8", "int4-g128")

#: Constants with more elements than this are printed as ``__elided__`` in dumps.
DEFAULT_ELIDE_LIMIT = 64

#: Options that never change what a compile produces, so the artifact cache key leaves them out
#: (compiles that dump or print IR bypass the cache). Every other option reaches the key.
NOT_IN_CACHE_KEY = frozenset({"progress", "cache", "dump_ir", "print_ir_after_all"})

#: ``progress(stage, step, total, seconds)``: seconds is None when the stage starts.
ProgressCallback = Callable[[str, int, int, float | None], None]


@dataclass
class CompileOptions:
    """Options of :func:`sparsile.compile`; each is also accepted as a keyword argument.

    ``target``: ``cpu`` (host CPU, or ``cpu:<name>``), ``cuda[:sm_XX]``, ``rocm[:gfxNNN]``,
    ``vulkan[:<arch>]``. ``entry``: the function to export from an MLIR input (default:
    its only public function). ``from_stage``: the stage an MLIR input is in.
    ``dump_ir``: a directory for ``NN-<stage>.mlir`` dumps. ``print_ir_after_all``:
    print the IR after every pass to stderr. ``elide_limit``: constants with more
    elements are elided in dumps and printing (None keeps everything).
    ``pass_options``: ``{pass-name: {option: value}}`` applied wherever the pass runs.
    ``iree_flags``: extra iree-compile flags. ``progress``: a stage progress callback.
    ``cache``: use the on-disk artifact cache (see :mod:`sparsile.cache`; ``SPARSILE_CACHE_DIR``,
    ``SPARSILE_ALWAYS_COMPILE``, ``SPARSILE_NO_CACHE``).
    ``native_options``: options of MLIR's ``sparsifier`` pipeline for ``native-cpu``, e.g.
    ``{"vl": 16}`` (vectorisation length), ``{"parallelization-strategy": "dense-outer-loop"}``
    (needs an OpenMP runtime), ``{"reassociate-fp-reductions": True}``.
    ``sparsity``: per-layer patterns that override detection, ``{"fc1": "2:4", "fc2": "bsr16",
    "fc3": "csr", "head": "dense"}`` (a layer name or a weight name).
    ``quantize``: ``"int8"`` (a scale per output row) or ``"int4-g128"`` (a scale per 128
    input columns): every matmul weight is stored as symmetric integers, round to nearest
    even, zeros kept, in whatever storage format ``schedule`` chooses, and dequantized in
    the kernel; None keeps the model's own precision.
    ``dynamic_shapes``: torch.export's ``dynamic_shapes`` argument, as torch takes it
    (``{"x": {0: torch.export.Dim("batch", min=1, max=64)}}``): the artifact serves every
    size within the bounds (an ``ExportedProgram`` brings its own). Every dynamic
    dimension needs a ``max``.
    ``parameters``: where the weights go on IREE targets. ``True``: into an IREE parameter
    archive (``model.irpa``) beside the ``.vmfb``, read through ``util.global``s (the
    stock tool runs it with ``--parameters=model=model.irpa``); ``False``: inline, as IR
    constants in the ``.vmfb``; ``None`` (default): into an archive once the weights total
    256 MiB (:data:`sparsile.parameters.AUTO_THRESHOLD`), inline below that.
    ``tune``: time every candidate storage and tile configuration of every layer on this
    machine and keep the fastest (dense included) instead of trusting the cost model
    (``cpu`` on the host CPU only; times are cached per CPU, see :mod:`sparsile.passes.tuning`).
    """

    #: A spec (``"cpu"``, ``"cuda:sm_86"``) or a Target; always a resolved Target after construction.
    target: Target = resolve_target("cpu")
    entry: str | None = None
    from_stage: str | None = None
    dump_ir: str | Path | None = None
    print_ir_after_all: bool = False
    elide_limit: int | None = DEFAULT_ELIDE_LIMIT
    pass_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    iree_flags: tuple[str, ...] = ()
    progress: ProgressCallback | None = None
    sparsity: dict[str, str] = field(default_factory=dict)
    cache: bool = True
    native_options: dict[str, Any] = field(default_factory=dict)
    quantize: str | None = None
    dynamic_shapes: Any = None
    tune: bool = False
    parameters: bool | None = None

    def __post_init__(self) -> None:
        self.target = resolve_target(self.target)
        if self.from_stage is not None:
            self.from_stage = normalize_stage(self.from_stage)
        if self.dump_ir is not None:
            self.dump_ir = Path(self.dump_ir)
        self.iree_flags = tuple(self.iree_flags)
        if self.sparsity is None:
            self.sparsity = {}
        if not isinstance(self.sparsity, dict):
            raise SparsileError(f"sparsity= takes a dict of layer name -> pattern, got {type(self.sparsity).__name__}")
        if self.parameters is not None and not isinstance(self.parameters, bool):
            raise SparsileError(f"parameters= takes True, False or None, got {self.parameters!r}")
        if self.parameters and self.target.is_native:
            raise SparsileError("parameters=True is for IREE targets: native-cpu has no parameter archive")
        if self.quantize is not None and self.quantize not in QUANTIZATION_SCHEMES:
            raise SparsileError(f"unknown quantize={self.quantize!r}; expected one of {', '.join(QUANTIZATION_SCHEMES)} (or None)")
        for layer, pattern in self.sparsity.items():
            try:
                Pattern.parse(str(pattern))
            except ValueError as err:
                raise SparsileError(f"sparsity override for '{layer}': {err}") from None

    @classmethod
    def from_kwargs(cls, options: CompileOptions | None, kwargs: dict[str, Any]) -> CompileOptions:
        """Merge keyword arguments into ``options``; unknown names are an error listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise SparsileError(
                f"unknown compile option(s): {', '.join(unknown)}; valid options: {', '.join(sorted(names))}"
            )
        base = {name: getattr(options, name) for name in names} if options is not None else {}
        base.update(kwargs)
        return cls(**base)
