"""Storage formats: one module per format, each a :class:`StorageFormat` named ``FORMAT``.

A format module is the whole of a format: detection of the pattern it is the home of
(if any), packing and unpacking, the storage check of the ``sparsile.matmul``
verifier, its cost, its lowering per target and its line in the report. Modules in
this package are found by name, so a new format is its module (and its tests).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import TYPE_CHECKING

from ...dialects.patterns import PatternKind

if TYPE_CHECKING:
    from .base import StorageFormat

_NOT_FORMATS = frozenset({"base"})


@functools.cache
def all_formats() -> tuple[StorageFormat, ...]:
    """Every storage format, in the order of their names."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_FORMATS)
    return tuple(importlib.import_module(f"{__name__}.{name}").FORMAT for name in names)


def format_names() -> list[str]:
    return [f.name for f in all_formats()]


def get_format(name: str) -> StorageFormat:
    """The format called ``name``; ValueError lists the known ones."""
    for fmt in all_formats():
        if fmt.name == name:
            return fmt
    raise ValueError(f"unknown storage format '{name}'; formats: {', '.join(format_names())}")


def detection_order() -> list[StorageFormat]:
    """The formats that are home to a pattern kind, in the order detection tries them."""
    return sorted((f for f in all_formats() if f.kind is not None), key=lambda f: f.detect_priority)


def home_format(kind: PatternKind) -> StorageFormat | None:
    """The format whose module detects ``kind`` (None for ``dense``)."""
    return next((f for f in all_formats() if f.kind is kind), None)
