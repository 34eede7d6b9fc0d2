"""Runs pipelines of sparsile and upstream passes, attributing failures to one pass.

Each pipeline element gets its own pass manager run, so a failure names the
exact pass and the IR that went into it is known: it is written to a file and
the error gives the one ``sparsile opt`` command that reproduces the failure.
Per-pass printing comes from the pass manager's own instrumentation.
"""

from __future__ import annotations

import shlex
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import from_error
from .errors import PipelineError
from .mlir import ir, passmanager, to_text
from .passes import Pass, UpstreamPass

PipelineElement = Pass | UpstreamPass


@dataclass
class PassRunner:
    """Runs pass pipelines over modules of one context."""

    ctx: ir.Context
    print_ir_after_all: bool = False
    failure_dir: Path | None = None
    elide_limit: int | None = None
    source_name: str | None = None
    save_failures: bool = True
    _failure_count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.print_ir_after_all:
            self.ctx.enable_multithreading(False)

    def run(self, module: ir.Module, elements: list[PipelineElement], stage: str) -> None:
        """Run ``elements`` in order on ``module``; raise PipelineError naming the failing pass."""
        for element in elements:
            before = module.operation.clone()
            errors: list[BaseException] = []
            with self.ctx:
                pm = passmanager.PassManager("builtin.module")
                if self.print_ir_after_all:
                    limits: dict[str, Any] = {}
                    if self.elide_limit is not None:
                        limits = {"large_elements_limit": self.elide_limit, "large_resource_limit": 4 * self.elide_limit}
                    pm.enable_ir_printing(print_after_all=True, **limits)
                _add(pm, element, errors)
                try:
                    pm.run(module.operation)
                except ir.MLIRError as err:
                    diags = from_error(err, self.source_name)
                    text = "\n".join(d.format() for d in diags) or str(err)
                    path = repro = None
                    if self.save_failures:
                        path = self.save_failing_ir(before, stage, element.name)
                        repro = f"sparsile opt -p {shlex.quote(element.spec())} {shlex.quote(path)}"
                    failure = PipelineError(stage, element.name, text, path, repro, diags)
                    cause = errors[0] if errors else None
                    if cause is not None:
                        raise failure from cause
                    raise failure from None
            del before

    def save_failing_ir(self, op: ir.Operation, stage: str, pass_name: str) -> str:
        """Write ``op`` in full (nothing elided) for a failure report; return the path."""
        return self.save_ir(to_text(op, elide_limit=None), stage, pass_name)

    def save_ir(self, ir_source: str | bytes, stage: str, step: str, directory: Path | None = None) -> str:
        """Write the IR a failing step was given (text, or bytecode as ``.mlirbc``); return the path."""
        self._failure_count += 1
        directory = directory or self.failure_dir or Path(tempfile.mkdtemp(prefix="sparsile-failure-"))
        directory.mkdir(parents=True, exist_ok=True)
        suffix = ".mlirbc" if isinstance(ir_source, bytes) else ".mlir"
        path = directory / f"failed-{stage}-{step}-{self._failure_count}{suffix}"
        if isinstance(ir_source, bytes):
            path.write_bytes(ir_source)
        else:
            path.write_text(ir_source)
        return str(path)


def _add(pm: passmanager.PassManager, element: PipelineElement, errors: list[BaseException]) -> None:
    if isinstance(element, UpstreamPass):
        pm.add(element.text)
        return

    def run(op: ir.Operation, pass_: Any) -> None:
        try:
            with op.location:  # a default location for everything the pass builds
                element.run(op, pass_)
        except Exception as exc:  # a bug in a pass fails the pipeline, not the process
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            op.location.emit_error(f"internal error in pass '{element.name}': {detail}")
            errors.append(exc)
            pass_.signal_pass_failure()

    pm.add(run, name=element.name, argument=element.name, description=element.summary())
