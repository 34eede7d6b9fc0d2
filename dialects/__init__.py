"""The ``sparsile`` dialect, sparsity patterns, their encodings and packings."""

from __future__ import annotations

from ..mlir import ir


def register_dialects(ctx: ir.Context) -> None:
    """Load the ``sparsile`` dialect into ``ctx``."""
    from .sparsile_dialect import Sparsile

    with ctx, ir.Location.unknown():
        Sparsile.load()
