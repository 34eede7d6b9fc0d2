"""Diagnostics as plain records, from errors and from the context's handler."""

from __future__ import annotations

from dataclasses import dataclass

from .mlir import format_location, ir, location_line


@dataclass(frozen=True)
class Diag:
    """One diagnostic: severity (error, warning, remark, note), where, and what."""

    severity: str
    location: str
    line: int | None
    message: str

    def format(self) -> str:
        return f"{self.location}: {self.severity}: {self.message}"


def _severity(diag: ir.Diagnostic) -> str:
    return str(diag.severity).rsplit(".", 1)[-1].lower()


def _record(diag: ir.Diagnostic, source_name: str | None, severity: str | None = None) -> list[Diag]:
    out = [
        Diag(
            severity or _severity(diag),
            format_location(diag.location, source_name),
            location_line(diag.location),
            diag.message,
        )
    ]
    for note in diag.notes:
        out.extend(_record(note, source_name, "note"))
    return out


def from_error(err: ir.MLIRError, source_name: str | None = None) -> list[Diag]:
    """The error diagnostics (and their notes) carried by an ``MLIRError``."""
    out: list[Diag] = []
    for diag in err.error_diagnostics:
        out.extend(_record(diag, source_name, "error"))
    return out


class DiagnosticCollector:
    """Collects the warnings and remarks a context emits outside of error capture."""

    def __init__(self, ctx: ir.Context, source_name: str | None = None):
        self.diags: list[Diag] = []
        self._source_name = source_name
        self._handler = ctx.attach_diagnostic_handler(self._handle)

    def _handle(self, diag: ir.Diagnostic) -> bool:
        self.diags.extend(_record(diag, self._source_name))
        return True

    def detach(self) -> None:
        self._handler.detach()
