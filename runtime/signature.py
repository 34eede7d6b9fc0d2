"""An IREE function's signature as its reflection declares it, checked against a manifest.

iree-compile records ``iree.abi.declaration`` on every exported function, e.g.
``sync func @main(%input0: tensor<2x64xf32>) -> (%output0: tensor<2x32xf32>)``;
the loader compares it with the manifest's inputs and outputs, so a manifest that
does not describe its ``.vmfb`` is a clear error rather than a failure inside a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..dtypes import numpy_dtype_name

_TENSOR = re.compile(r"tensor<([^>]*)>")


@dataclass(frozen=True)
class Signature:
    """(shape, dtype) of each input and output; -1 for a dynamic dimension."""

    inputs: list[tuple[tuple[int, ...], str]]
    outputs: list[tuple[tuple[int, ...], str]]


def parse_declaration(text: str) -> Signature | None:
    """The signature in an ``iree.abi.declaration``, or None when it is not of tensors only."""
    head, arrow, tail = text.partition("->")
    if not arrow:
        tail = ""
    inputs = _tensors(head[head.find("(") :])
    outputs = _tensors(tail)
    if inputs is None or outputs is None:
        return None
    return Signature(inputs, outputs)


def _tensors(text: str) -> list[tuple[tuple[int, ...], str]] | None:
    values = [part for part in re.split(r"%\w+\s*:", text)[1:]]
    specs = []
    for value in values:
        m = _TENSOR.search(value)
        if m is None:
            return None
        *dims, element = m.group(1).split("x")
        try:
            dtype = numpy_dtype_name(element)
        except ValueError:
            return None
        specs.append((tuple(-1 if d == "?" else int(d) for d in dims), dtype))
    return specs
