"""The ``sparsile`` dialect, sparsity patterns and their encodings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..mlir import ir


def register_dialects(ctx: ir.Context) -> None:
    """Load the ``sparsile`` dialect into ``ctx``."""
    from ..mlir import ir
    from .sparsile_dialect import Sparsile

    with ctx, ir.Location.unknown():
        Sparsile.load()
