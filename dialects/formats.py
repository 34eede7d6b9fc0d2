"""Sparsity patterns and storage formats, as values rather than scattered strings.

A :class:`Pattern` is what a weight's zeros look like and how it is stored:
``dense``, ``csr`` (unstructured), ``bsr16`` (16x16 blocks), ``2:4`` (N:M along
the reduction dimension) or ``channels`` (whole output rows / input columns
removed). Its text form is what users write in ``sparsity={...}`` overrides.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

BLOCK_SIZES = (4, 8, 16, 32)
NM_PATTERNS = ((1, 4), (2, 8), (2, 4), (4, 8))


class Format(enum.Enum):
    """How a weight is stored in the kernels stage."""

    DENSE = "dense"
    CSR = "csr"
    BSR = "bsr"
    NM = "nm"
    CHANNELS = "channels"


@dataclass(frozen=True)
class Pattern:
    """A format with its parameters: block size for BSR, (n, m) for N:M."""

    format: Format
    block: int = 0
    n: int = 0
    m: int = 0

    def __str__(self) -> str:
        if self.format is Format.BSR:
            return f"bsr{self.block}"
        if self.format is Format.NM:
            return f"{self.n}:{self.m}"
        return self.format.value

    @property
    def is_sparse(self) -> bool:
        return self.format is not Format.DENSE

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """Parse ``dense``, ``csr``, ``bsr<B>``, ``<N>:<M>`` or ``channels``."""
        spec = text.strip().lower()
        if spec in ("dense", "csr", "channels"):
            return cls(Format(spec))
        if spec in ("unstructured", "coo"):
            return cls(Format.CSR)
        m = re.fullmatch(r"bsr(\d+)", spec)
        if m and int(m[1]) in BLOCK_SIZES:
            return cls(Format.BSR, block=int(m[1]))
        m = re.fullmatch(r"(\d+):(\d+)", spec)
        if m and 0 < int(m[1]) < int(m[2]):
            return cls(Format.NM, n=int(m[1]), m=int(m[2]))
        raise ValueError(
            f"unknown sparsity pattern {text!r}; expected dense, csr, channels, "
            f"bsr<B> with B in {', '.join(map(str, BLOCK_SIZES))}, or N:M such as 2:4"
        )


DENSE = Pattern(Format.DENSE)
CSR = Pattern(Format.CSR)
CHANNELS = Pattern(Format.CHANNELS)
