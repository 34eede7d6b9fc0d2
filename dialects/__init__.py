"""The ``sparsile`` dialect and the sparse-tensor encodings sparsile uses."""

from __future__ import annotations

from ..mlir import ir


def register_dialects(ctx: ir.Context) -> None:
    """Load sparsile's own dialects into ``ctx`` (none are defined yet)."""
    del ctx
