"""Parsing MLIR text or bytecode with errors that name the file, line and column."""

from __future__ import annotations

from .diagnostics import from_error
from .errors import MLIRParseError
from .mlir import ir


def parse_module(source: str | bytes, ctx: ir.Context, source_name: str = "<input>") -> ir.Module:
    """Parse ``source`` into ``ctx``; a syntax or verifier error raises MLIRParseError."""
    with ctx:
        try:
            return ir.Module.parse(source)
        except ir.MLIRError as err:
            diags = from_error(err, source_name)
            text = "\n".join(d.format() for d in diags) or str(err)
            raise MLIRParseError(f"{source_name} is not valid MLIR:\n{text}", diags) from None
