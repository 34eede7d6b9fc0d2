"""The one door to the MLIR Python bindings.

sparsile does all its IR work in torch-mlir's copy of the upstream MLIR bindings
(it registers ``sparse_tensor``, ``irdl`` and the torch dialect). Every other module
imports ``ir``, ``passmanager`` and the dialect modules from here, so nothing else
knows which copy of the bindings is in use; IR leaves this world only as bytecode
(see :mod:`sparsile.iree_backend`).
"""

from __future__ import annotations

import hashlib
import io
import re

from torch_mlir import ir, passmanager  # noqa: F401  (re-exported)
from torch_mlir.dialects import arith, cf, func, linalg, llvm, math, memref, scf, sparse_tensor, tensor, vector  # noqa: F401  (re-exported)
from torch_mlir.dialects import torch as torch_dialect

from .options import DEFAULT_ELIDE_LIMIT

_LOC_RE = re.compile(r'loc\("(?P<file>[^"]*)":(?P<line>\d+):(?P<col>\d+)\)')


def new_context() -> ir.Context:
    """A context with every dialect sparsile reads or writes loaded."""
    ctx = ir.Context()
    torch_dialect.register_dialect(ctx)
    # Imported lazily: the dialect definitions themselves need the bindings from here.
    from .dialects import register_dialects

    register_dialects(ctx)
    return ctx


def format_location(loc: ir.Location | str, source_name: str | None = None) -> str:
    """``file:line:col`` for a file location (the parser calls unnamed buffers "-")."""
    text = str(loc)
    m = _LOC_RE.search(text)
    if not m:
        return text
    name = m["file"]
    if source_name and name in ("-", ""):
        name = source_name
    return f"{name}:{m['line']}:{m['col']}"


def location_line(loc: ir.Location | str) -> int | None:
    """The line number of a file location, or None for other locations."""
    m = _LOC_RE.search(str(loc))
    return int(m["line"]) if m else None


def to_bytecode(module: ir.Module | ir.Operation) -> bytes:
    """Serialise a module as MLIR bytecode (cheap for large weights)."""
    op = module.operation if isinstance(module, ir.Module) else module
    buf = io.BytesIO()
    op.write_bytecode(buf)
    return buf.getvalue()


def bytecode_digest(module: ir.Module | ir.Operation) -> str:
    """The sha256 of a module's bytecode, hashed as it is written (the bytecode is never held whole)."""
    op = module.operation if isinstance(module, ir.Module) else module
    sink = _HashingSink()
    op.write_bytecode(sink)
    return sink.digest.hexdigest()


class _HashingSink:
    """A write-only file object that hashes what it is given."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


def to_text(module: ir.Module | ir.Operation, elide_limit: int | None = DEFAULT_ELIDE_LIMIT) -> str:
    """Print a module; constants larger than ``elide_limit`` elements are elided (None keeps all)."""
    op = module.operation if isinstance(module, ir.Module) else module
    if elide_limit is None:
        return op.get_asm()
    # Resources are counted in bytes; four bytes per element keeps the two limits alike.
    return op.get_asm(large_elements_limit=elide_limit, large_resource_limit=4 * elide_limit)
