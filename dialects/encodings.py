"""``#sparse_tensor.encoding`` attributes for sparsile's patterns, both ways.

A weight is described in its own layout; ``reduction_dim`` says which of its two
dimensions is summed over (1 for a torch ``[out, in]`` weight that the importer
transposes, 0 for a ``[in, out]`` matmul operand), so N:M groups and CSR rows
follow the reduction dimension. Conv filters ``[F, C, KH, KW]`` reduce over the
last three dimensions.
"""

from __future__ import annotations

import re

from ..mlir import ir
from .formats import CHANNELS, CSR, Format, Pattern


def encoding_text(pattern: Pattern, rank: int = 2, reduction_dim: int = 1, input_channels: bool = False) -> str:
    """The textual ``#sparse_tensor.encoding`` of ``pattern`` for a weight of ``rank``.

    ``input_channels`` says a ``channels`` weight lost input columns rather than output rows.
    """
    if rank == 4:
        return _conv_encoding(pattern)
    if rank != 2:
        raise ValueError(f"sparse encodings are built for matrices and conv filters, not rank {rank}")
    out, red = ("i", "j") if reduction_dim == 1 else ("j", "i")
    fmt = pattern.format
    if fmt is Format.CSR:
        levels = f"{out} : dense, {red} : compressed"
    elif fmt is Format.BSR:
        b = pattern.block
        levels = f"{out} floordiv {b} : dense, {red} floordiv {b} : compressed, {out} mod {b} : dense, {red} mod {b} : dense"
    elif fmt is Format.NM:
        levels = f"{out} : dense, {red} floordiv {pattern.m} : dense, {red} mod {pattern.m} : structured[{pattern.n}, {pattern.m}]"
    elif fmt is Format.CHANNELS and input_channels:
        levels = f"{red} : compressed, {out} : dense"
    elif fmt is Format.CHANNELS:
        levels = f"{out} : compressed, {red} : dense"
    else:
        raise ValueError("a dense weight has no sparse encoding")
    return f"#sparse_tensor.encoding<{{map = (i, j) -> ({levels})}}>"


def _conv_encoding(pattern: Pattern) -> str:
    if pattern.format is Format.CHANNELS:
        levels = "f : compressed, c : dense, h : dense, w : dense"
    elif pattern.format is Format.CSR:
        levels = "f : dense, c : compressed, h : compressed, w : compressed"
    else:
        raise ValueError(f"conv filters support the patterns csr and channels, not {pattern}")
    return f"#sparse_tensor.encoding<{{map = (f, c, h, w) -> ({levels})}}>"


def encoded_type(
    tensor_type: ir.RankedTensorType, pattern: Pattern, reduction_dim: int = 1, input_channels: bool = False
) -> ir.RankedTensorType:
    """``tensor_type`` with the encoding of ``pattern`` attached."""
    encoding = ir.Attribute.parse(encoding_text(pattern, tensor_type.rank, reduction_dim, input_channels))
    return ir.RankedTensorType.get(tensor_type.shape, tensor_type.element_type, encoding)


_STRUCTURED = re.compile(r"structured\[(\d+),\s*(\d+)\]")
_FLOORDIV = re.compile(r"floordiv (\d+)")


def pattern_of_encoding(encoding: ir.Attribute) -> Pattern:
    """The pattern an encoding written by :func:`encoding_text` (or by hand, alike) describes."""
    text = str(encoding)
    nm = _STRUCTURED.search(text)
    if nm:
        return Pattern(Format.NM, n=int(nm[1]), m=int(nm[2]))
    block = _FLOORDIV.search(text)
    if block:
        return Pattern(Format.BSR, block=int(block[1]))
    levels = re.findall(r":\s*(dense|compressed|singleton|loose_compressed)", text)
    if levels and levels[0] == "compressed" and all(level == "dense" for level in levels[1:]):
        return CHANNELS
    return CSR


def torch_layout(encoding: ir.Attribute) -> tuple[str, int, int]:
    """The torch layout an argument encoding stands for: (layout, block size, index bit width).

    CSR ``(d0 : dense, d1 : compressed)``, COO ``(compressed(nonunique), singleton...)``,
    BSR ``(d0 floordiv B : dense, d1 floordiv B : compressed, ...)``.
    """
    text = str(encoding)
    width = re.search(r"posWidth = (\d+)", text)
    bits = int(width[1]) if width else 64
    if "nonunique" in text or "singleton" in text:
        return "coo", 0, bits
    block = _FLOORDIV.search(text)
    if block:
        return "bsr", int(block[1]), bits
    levels = re.findall(r":\s*(dense|compressed)", text)
    if levels == ["dense", "compressed"]:
        return "csr", 0, bits
    raise ValueError(f"no torch sparse layout corresponds to {text}")
