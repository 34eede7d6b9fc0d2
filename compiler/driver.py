"""The stage driver: runs every stage of a compile and hands the result to IREE."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compiled_model import NATIVE_NAME, VMFB_NAME, CompiledModel
from .dialects.encodings import torch_layout
from .dtypes import numpy_dtype_name
from .dumps import write_stage_dump
from . import environment
from .cache import ArtifactCache, cache_key
from .errors import ModelSpecError, PipelineError
from .iree_backend import IreeCompileError, compile_vmfb
from .manifest import Manifest, TensorSpec, sha256_hex
from .mlir import ir, new_context, to_bytecode, to_text
from .options import CompileOptions
from .pass_runner import PassRunner
from .passes.check_input import CheckInput
from .passes.ir_query import find_entry, function_type, symbol_name
from .passes.pass_base import format_option
from .passes.pipelines import PIPELINES
from .passes.registry import parse_pipeline
from .sources import Source, load_source
from .sparsity_report import SparsityReport
from .sparsity_report import collect as collect_report
from .stages import stages_after
from .versions import tool_versions


@dataclass
class PipelineResult:
    """What running the stages produced: the module, each stage's IR, the report, the payload."""

    source: Source
    stage_ir: dict[str, str]
    report: SparsityReport
    payload: bytes | None = None
    signature: tuple[str, list[TensorSpec], list[TensorSpec]] | None = None


def compile_model(model: Any, example_args: Sequence[Any], options: CompileOptions) -> CompiledModel:
    """Import ``model``, run the stages after its starting stage, and compile the result
    with IREE (or, for ``native-cpu``, with MLIR's sparsifier to an LLVM-dialect module).

    The artifact cache is consulted once the model is imported: a hit skips every
    stage and IREE (dumps and IR printing need the stages, so they bypass it).
    """
    staged = _Staged(model, example_args, options, until="vmfb")
    if not options.target.is_native:
        _reject_sparse_inputs(staged.source)
    key = None
    if options.cache and not environment.flag(environment.NO_CACHE) and not (options.dump_ir or options.print_ir_after_all):
        key = cache_key(to_bytecode(staged.source.module), _cache_settings(options))
        if not environment.flag(environment.ALWAYS_COMPILE):
            hit = ArtifactCache().load(key, staged.source.output_tree)
            if hit is not None:
                staged.skip_rest("cached")
                return hit
    result = staged.run()
    assert result.payload is not None
    compiled = CompiledModel(result.payload, _manifest(result, options), result.stage_ir, result.source.output_tree)
    if key is not None:
        ArtifactCache().store(key, compiled)
    return compiled


def analyze_model(model: Any, example_args: Sequence[Any], options: CompileOptions) -> SparsityReport:
    """Run the stages up to ``kernels`` (no IREE) and return the sparsity report."""
    return _Staged(model, example_args, options, until="kernels").run().report


class _Staged:
    """A model loaded into a fresh context, and the stages still to run on it (with progress)."""

    def __init__(self, model: Any, example_args: Sequence[Any], options: CompileOptions, until: str):
        self.options = options
        self.ctx = new_context()
        start = options.from_stage or "linalg"
        remaining = stages_after(start, options.target.is_native)
        if not remaining:
            raise ModelSpecError(f"a compile cannot start from the last stage '{start}'; give IR of an earlier stage")
        if until in remaining:
            remaining = remaining[: remaining.index(until) + 1]
        self.remaining = remaining
        self.total = len(remaining) + 1
        started = time.perf_counter()
        _progress(options, start, 1, self.total, None)
        self.source = load_source(model, example_args, self.ctx, options.from_stage, options.entry)
        _progress(options, start, 1, self.total, time.perf_counter() - started)

    def skip_rest(self, why: str) -> None:
        _progress(self.options, f"{self.remaining[-1]} ({why})", self.total, self.total, 0.0)

    def run(self) -> PipelineResult:
        """Run every remaining stage."""
        options, source = self.options, self.source
        runner = PassRunner(
            self.ctx,
            print_ir_after_all=options.print_ir_after_all,
            failure_dir=Path(options.dump_ir) if options.dump_ir else None,
            elide_limit=options.elide_limit,
            source_name=source.source_name,
        )
        if source.stage != "linalg":
            # Stages after linalg skip the annotate pipeline and its input check.
            runner.run(source.module, [CheckInput(entry=source.entry or "")], source.stage)
        result = PipelineResult(source, {}, collect_report(source.module))
        _record(result.stage_ir, source.stage, source.module, options)
        for step, stage in enumerate(self.remaining, start=2):
            started = time.perf_counter()
            _progress(options, stage, step, self.total, None)
            if stage in ("vmfb", "llvm"):  # the last stages: the entry is still a func.func here
                result.signature = _signature(source)
            if stage == "vmfb":
                result.payload = _compile_vmfb(source, options, runner)
            else:
                runner.run(source.module, _stage_pipeline(stage, source, options, self.ctx), stage)
                _record(result.stage_ir, stage, source.module, options)
                if stage in ("annotated", "kernels"):
                    result.report = collect_report(source.module)
                if stage == "llvm":
                    result.payload = to_bytecode(source.module)
            _progress(options, stage, step, self.total, time.perf_counter() - started)
        return result


def _cache_settings(options: CompileOptions) -> dict[str, Any]:
    """The options that change what a compile produces (the cache key's settings)."""
    target = options.target
    return {
        "target": target.spec,
        "target_chip": target.chip,
        "flags": [*target.flags, *options.iree_flags],
        "entry": options.entry,
        "from_stage": options.from_stage,
        "elide_limit": options.elide_limit,
        "pass_options": options.pass_options,
        "sparsity": options.sparsity,
    }


def _stage_pipeline(stage: str, source: Source, options: CompileOptions, ctx: ir.Context) -> list:
    elements = []
    for item in PIPELINES[stage]:
        name, _, body = item.partition("{")
        settings = dict(kv.split("=", 1) for kv in body.rstrip("}").split()) if body else {}
        settings.update(options.pass_options.get(name, {}))
        if name == "check-input" and source.entry:
            settings.setdefault("entry", source.entry)
        if name == "detect-sparsity" and options.sparsity:
            settings.setdefault("overrides", [f"{layer}@{pattern}" for layer, pattern in options.sparsity.items()])
        if name == "sparsifier":
            settings.update(options.native_options)
        if name == "lower-to-iree":
            settings.setdefault("target", options.target.name)
        if settings:
            name = name + "{" + " ".join(f"{k}={format_option(v)}" for k, v in settings.items()) + "}"
        elements.extend(parse_pipeline(name, ctx))
    return elements


def _record(stage_ir: dict[str, str], stage: str, module: ir.Module, options: CompileOptions) -> None:
    text = to_text(module, options.elide_limit)
    stage_ir[stage] = text
    if options.dump_ir:
        write_stage_dump(Path(options.dump_ir), stage, text)


def _progress(options: CompileOptions, stage: str, step: int, total: int, seconds: float | None) -> None:
    if options.progress is not None:
        options.progress(stage, step, total, seconds)


def _compile_vmfb(source: Source, options: CompileOptions, runner: PassRunner) -> bytes:
    flags = [*options.target.flags, *options.iree_flags]
    try:
        return compile_vmfb(to_bytecode(source.module), flags)
    except IreeCompileError as err:
        path = runner.save_failing_ir(source.module.operation, "vmfb", "iree-compile")
        repro = f"iree-compile {shlex.quote(path)} {' '.join(flags)} -o model.vmfb"
        raise PipelineError("vmfb", "iree-compile", err.diagnostics, path, repro) from None


def _signature(source: Source) -> tuple[str, list[TensorSpec], list[TensorSpec]]:
    """The entry function's name and input and output specs (layouts included)."""
    entry = find_entry(source.module.operation, source.entry)
    if entry is None:  # check-input ran on every path here; this is a sparsile bug
        raise ModelSpecError("internal error: the entry function disappeared during compilation")
    ftype = function_type(entry)
    names = source.input_names or [f"input{i}" for i in range(len(ftype.inputs))]
    inputs = [_tensor_spec(name, t) for name, t in zip(names, ftype.inputs)]
    outputs = [_tensor_spec(f"output{i}", t) for i, t in enumerate(ftype.results)]
    return symbol_name(entry), inputs, outputs


def _reject_sparse_inputs(source: Source) -> None:
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


def _manifest(result: PipelineResult, options: CompileOptions) -> Manifest:
    source = result.source
    entry, inputs, outputs = result.signature or _signature(source)
    target = options.target
    return Manifest(
        entry=entry,
        inputs=inputs,
        outputs=outputs,
        target={"name": target.name, "chip": target.chip, "backend": target.backend, "driver": target.driver},
        iree_flags=[*target.flags, *options.iree_flags],
        versions=tool_versions(),
        vmfb_sha256=sha256_hex(result.payload or b""),
        output_tree=source.output_tree.to_json(),
        layers=result.report.to_json(),
        payload=NATIVE_NAME if target.is_native else VMFB_NAME,
    )


def _tensor_spec(name: str, t: ir.Type) -> TensorSpec:
    tensor = ir.RankedTensorType(t)
    shape = tuple(-1 if ir.ShapedType.is_dynamic_size(d) else d for d in tensor.shape)
    dtype = numpy_dtype_name(str(tensor.element_type))
    if tensor.encoding is None:
        return TensorSpec(name, shape, dtype)
    layout, block, bits = torch_layout(tensor.encoding)
    return TensorSpec(name, shape, dtype, layout, block, "int32" if bits == 32 else "int64")
