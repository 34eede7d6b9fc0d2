"""The hand-off to IREE: the only module that imports ``iree.compiler``.

IR arrives here as MLIR bytecode written by torch-mlir's bindings (the two MLIR
copies never share objects) and leaves as a ``.vmfb`` flatbuffer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from iree.compiler import tools as iree_tools


class IreeCompileError(Exception):
    """iree-compile rejected the input; ``diagnostics`` holds its error lines."""

    def __init__(self, diagnostics: str):
        self.diagnostics = diagnostics
        super().__init__(diagnostics)


def compile_vmfb(ir_source: bytes | str, flags: Sequence[str]) -> bytes:
    """Compile MLIR (bytecode or text) with iree-compile and the given flags."""
    try:
        return iree_tools.compile_str(ir_source, extra_args=list(flags))
    except iree_tools.CompilerToolError as err:
        raise IreeCompileError(_diagnostics(str(err))) from None


def _diagnostics(text: str) -> str:
    m = re.search(r"Diagnostics:\n(.*?)\n\nInvoked with:", text, re.S)
    body = m.group(1) if m else text
    lines = [line for line in body.splitlines() if line.strip()]
    return "\n".join(lines[:40])
