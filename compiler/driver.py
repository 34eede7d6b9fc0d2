"""The stage driver: runs the rows of a target's stage table on one model.

Each row of :data:`sparsile.stages.TABLES` says how its stage is produced; the
driver runs them in order from the model's starting stage, records (and dumps)
every stage's IR, reads the sparsity report where a row says so, and returns the
payload with its manifest. The artifact cache is consulted once the model is
imported, keyed by the resolved pipelines of the stages still to run.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import environment
from .cache import ArtifactCache, cache_key
from .compiled_model import CompiledCausalLM, CompiledModel
from .dumps import write_stage_dump
from .errors import ModelSpecError, PipelineError, UnknownChipError
from .manifest import Manifest, TensorSpec, sha256_hex
from .mlir import bytecode_digest, ir, new_context, to_bytecode, to_text
from .options import CompileOptions
from .parameters import ARCHIVE_NAME, SCOPE, ParameterArchive
from .pass_runner import PassRunner
from .passes.check_input import CheckInput
from .report import SparsityReport
from .report_ir import collect as collect_report
from .runtime import NATIVE_NAME, VMFB_NAME
from .signatures import entry_bounds, module_signature, vmfb_signature, with_bounds
from .sources import Source, load_source
from .stages import Stage, stages_after
from .versions import tool_versions


@dataclass
class _Run:
    """The state of one compile as its stages run."""

    options: CompileOptions
    source: Source
    runner: PassRunner
    stage_ir: dict[str, str] = field(default_factory=dict)
    report: SparsityReport = field(default_factory=lambda: SparsityReport([]))
    handoff: bytes | str | None = None
    payload: bytes | None = None
    signature: tuple[str, list[TensorSpec], list[TensorSpec]] | None = None
    archive: ParameterArchive | None = None
    #: Signatures of the functions exported besides the entry.
    functions: dict[str, dict[str, list[TensorSpec]]] = field(default_factory=dict)

    def record(self, stage: str, text: str) -> None:
        self.stage_ir[stage] = text
        if self.options.dump_ir:
            write_stage_dump(Path(self.options.dump_ir), stage, text)


def compile_model(model: Any, example_args: Sequence[Any], options: CompileOptions) -> CompiledModel:
    """Import ``model``, run the stages after its starting stage, and return the compiled artifact.

    A hit in the artifact cache skips every stage (dumps and IR printing need the
    stages, so they bypass it); cache trouble is a warning, never a failed compile.
    """
    _check_chip(options)
    staged = _Staged(model, example_args, options, until=None)
    if not options.target.is_native:
        _reject_sparse_inputs(staged.source)
    key = None
    cache = None
    if options.cache and not environment.flag(environment.NO_CACHE) and not (options.dump_ir or options.print_ir_after_all):
        cache = ArtifactCache.open()
        if cache is not None:
            key = staged.cache_key()
            if not environment.flag(environment.ALWAYS_COMPILE):
                hit = cache.load(key)
                if hit is not None:
                    staged.skip_rest("cached")
                    return hit
    run = staged.run()
    assert run.payload is not None and run.signature is not None
    _warn_if_costs_were_measured_elsewhere(options, run.report)
    parameters = {SCOPE: run.archive.path} if run.archive is not None else None
    manifest = _manifest(run)
    cls = CompiledCausalLM if manifest.generation is not None else CompiledModel
    compiled = cls(run.payload, manifest, run.stage_ir, parameters, keep_alive=run.archive)
    if cache is not None and key is not None:
        cache.store(key, compiled)
    return compiled


_warned_about_costs = False


def _warn_if_costs_were_measured_elsewhere(options: CompileOptions, report: SparsityReport) -> None:
    """Once per process: a host-CPU compile whose storage choices came from a cost model measured on a
    CPU with another vector instruction set (the kernels' costs, and so the choices, differ there)."""
    global _warned_about_costs
    target = options.target
    if _warned_about_costs or options.tune or target.family != "cpu" or target.arch is not None or target.chip != "host":
        return
    if not any(layer.predicted_us and layer.pattern not in ("dense", "") for layer in report):
        return
    from .errors import CostModelWarning, warn_user
    from .passes.cost_model import calibrated_vector_isa, coefficients_file
    from .targets import host_vector_isa

    measured, here = calibrated_vector_isa(), host_vector_isa()
    if measured is None or measured == here:
        return
    _warned_about_costs = True
    warn_user(f"the cost model ({coefficients_file()}) was measured on a CPU with {measured}, this one has {here}: "
              f"the storage chosen per layer may be slower than dense here; compile with tune=True (--tune), or run "
              f"benchmarks/calibrate.py -o FILE here and set {environment.COST_MODEL.name}=FILE", CostModelWarning)


def compile_key(model: Any, example_args: Sequence[Any], options: CompileOptions) -> str:
    """The artifact cache key ``compile_model`` would use (the model is imported, nothing is compiled)."""
    return _Staged(model, example_args, options, until=None).cache_key()


def analyze_model(model: Any, example_args: Sequence[Any], options: CompileOptions) -> SparsityReport:
    """Run the stages up to ``kernels`` (no IREE) and return the sparsity report."""
    return _Staged(model, example_args, options, until="kernels").run().report


def lower_model(model: Any, example_args: Sequence[Any], options: CompileOptions, stage: str) -> str:
    """Run the stages up to ``stage`` and return its IR."""
    start = options.from_stage or "linalg"
    names = [start, *(s.name for s in stages_after(start, options.target.family) if s.kind != "iree-compile")]
    if stage not in names:
        choices = ", ".join(names)
        raise ModelSpecError(f"stage '{stage}' is not an MLIR stage from '{start}' on target '{options.target.name}'; choose one of: {choices}")
    _check_chip(options)
    return _Staged(model, example_args, options, until=stage).run().stage_ir[stage]


def _check_chip(options: CompileOptions) -> None:
    """A chip other than the target's default must be one IREE knows (checked before any work)."""
    target = options.target
    if target.is_native or target.default_chip:
        return
    from .iree_backend import chip_problem

    problem = chip_problem(target.flags)
    if problem is not None:
        raise UnknownChipError(f"target '{target.spec}': iree-compile cannot generate code for chip '{target.chip}': {problem}")


class _Staged:
    """A model loaded into a fresh context, and the stages still to run on it (with progress)."""

    def __init__(self, model: Any, example_args: Sequence[Any], options: CompileOptions, until: str | None):
        from .passes.cost_model import model_digest

        model_digest()  # a cost model file that cannot be used is an error before any work
        self.options = options
        self.ctx = new_context()
        start = options.from_stage or "linalg"
        remaining = stages_after(start, options.target.family)
        if not remaining:
            raise ModelSpecError(f"a compile cannot start from the last stage '{start}'; give IR of an earlier stage")
        names = [s.name for s in remaining]
        if until == start:
            remaining = ()
        elif until in names:
            remaining = remaining[: names.index(until) + 1]
        self.remaining: tuple[Stage, ...] = remaining
        self.total = len(remaining) + 1
        started = time.perf_counter()
        _progress(options, start, 1, self.total, None)
        self.source = load_source(model, example_args, self.ctx, options.from_stage, options.entry, options.dynamic_shapes)
        _progress(options, start, 1, self.total, time.perf_counter() - started)

    def source_digest(self) -> str:
        """The model as the cache key sees it: the sha256 of its bytecode (or of the hand-off text it came as).

        The bytecode is hashed as it is written, so a model's weights are never held twice for it.
        """
        if self.source.module is not None:
            return bytecode_digest(self.source.module)
        raw = self.source.handoff
        return sha256_hex(raw if isinstance(raw, bytes) else str(raw).encode())

    def plan(self) -> dict[str, Any]:
        """Every setting that reaches the remaining stages: their resolved pipelines, flags and the dump limit."""
        stages = []
        for stage in self.remaining:
            if stage.pipeline is not None:
                stages.append([stage.name, [e.spec() for e in stage.pipeline(self.options)]])
            elif stage.kind == "iree-compile":
                stages.append([stage.name, _iree_flags(self.options)])
            else:
                stages.append([stage.name, []])
        return {"stages": stages, "elide_limit": self.options.elide_limit, "entry": self.options.entry,
                "parameters": self.options.parameters}

    def cache_key(self) -> str:
        """The artifact cache key of this compile."""
        return cache_key(self.source_digest(), self.plan())

    def skip_rest(self, why: str) -> None:
        _progress(self.options, f"{self.remaining[-1].name} ({why})", self.total, self.total, 0.0)

    def run(self) -> _Run:
        """Run every remaining stage."""
        options, source = self.options, self.source
        runner = PassRunner(
            self.ctx,
            print_ir_after_all=options.print_ir_after_all,
            failure_dir=Path(options.dump_ir) if options.dump_ir else None,
            elide_limit=options.elide_limit,
            source_name=source.source_name,
        )
        run = _Run(options, source, runner, handoff=source.handoff)
        if source.module is not None:
            if source.stage != "linalg":
                # Stages after linalg skip the annotate pipeline and its input check.
                runner.run(source.module, [CheckInput(entry=source.entry or "", stage=source.stage)], source.stage)
                run.report = collect_report(source.module)
            run.record(source.stage, to_text(source.module, options.elide_limit))
        for step, stage in enumerate(self.remaining, start=2):
            started = time.perf_counter()
            _progress(options, stage.name, step, self.total, None)
            _run_stage(stage, run)
            _progress(options, stage.name, step, self.total, time.perf_counter() - started)
        return run


def _run_stage(stage: Stage, run: _Run) -> None:
    module = run.source.module
    if stage.kind == "handoff":
        assert module is not None
        from .iree_backend import IreeCompileError, handoff
        from .parameters import externalize_weights, movable_constants, wants_archive

        constants = movable_constants(module)
        if constants and wants_archive(run.options.parameters, constants):
            run.archive = externalize_weights(module, constants)

        try:
            result = handoff(to_bytecode(module), run.options.elide_limit)
        except IreeCompileError as err:
            raise _iree_failure(run, stage.name, "hand-off", err, to_text(module, None)) from None
        run.handoff = result.bytecode
        run.record(stage.name, result.text)
        return
    if stage.kind == "iree-compile":
        from .iree_backend import IreeCompileError, compile_vmfb

        assert run.handoff is not None
        try:
            run.payload = compile_vmfb(run.handoff, _iree_flags(run.options))
        except IreeCompileError as err:
            raise _iree_failure(run, stage.name, "iree-compile", err, run.handoff) from None
        run.signature = vmfb_signature(run.payload, run.source.entry, run.source.input_names)
        for name, input_names in run.source.functions.items():
            _, inputs, outputs = vmfb_signature(run.payload, name, input_names)
            run.functions[name] = {"inputs": inputs, "outputs": outputs}
        return
    assert module is not None and stage.pipeline is not None
    if stage.payload:
        run.signature = module_signature(module, run.source.entry, run.source.input_names)
    run.runner.run(module, stage.pipeline(run.options), stage.name)
    run.record(stage.name, to_text(module, run.options.elide_limit))
    if stage.reports:
        run.report = collect_report(module)
    if stage.payload:
        run.payload = to_bytecode(module)


def _iree_flags(options: CompileOptions) -> list[str]:
    return [*options.target.flags, *options.iree_flags]


def _iree_failure(run: _Run, stage: str, step: str, err: Any, given: str | bytes) -> PipelineError:
    """A hand-off or iree-compile failure, with the IR it was given saved and the command that repeats it."""
    directory = Path(run.options.dump_ir) if run.options.dump_ir else None
    path = run.runner.save_ir(given, stage, step, directory)
    flags = " ".join(_iree_flags(run.options))
    repro = f"iree-compile {shlex.quote(path)} {flags} -o model.vmfb"
    return PipelineError(stage, step, err.diagnostics, path, repro)


def _reject_sparse_inputs(source: Source) -> None:
    if source.module is None:
        return
    from .passes.ir_query import find_entry, function_type

    entry = find_entry(source.module.operation, source.entry)
    if entry is None:
        return  # check-input reports it
    for i, t in enumerate(function_type(entry).inputs):
        if isinstance(t, ir.RankedTensorType) and t.encoding is not None:
            name = source.input_names[i] if source.input_names else f"input{i}"
            raise ModelSpecError(
                f"argument {i} ({name}) is a sparse tensor ({t}); IREE targets take dense tensors: "
                "compile with target='native-cpu' or pass a dense example argument"
            )


def _manifest(run: _Run) -> Manifest:
    options, source = run.options, run.source
    assert run.signature is not None
    entry, inputs, outputs = run.signature
    if source.module is not None:
        inputs = with_bounds(inputs, entry_bounds(source.module, entry))
    target = options.target
    return Manifest(
        entry=entry,
        inputs=inputs,
        outputs=outputs,
        target={"name": target.name, "chip": target.chip, "backend": target.backend, "driver": target.driver,
                **({"arch": target.arch, "triple": target.triple} if target.arch else {})},
        iree_flags=[] if target.is_native else _iree_flags(options),
        versions=tool_versions(),
        output_structure=source.output_tree.structure,
        layers=run.report.to_json(),
        payload=NATIVE_NAME if target.is_native else VMFB_NAME,
        parameters={SCOPE: ARCHIVE_NAME} if run.archive is not None else {},
        functions=run.functions,
        generation=source.generation,
    )


def _progress(options: CompileOptions, stage: str, step: int, total: int, seconds: float | None) -> None:
    if options.progress is not None:
        options.progress(stage, step, total, seconds)
