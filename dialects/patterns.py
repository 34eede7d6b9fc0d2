"""Sparsity patterns: what a weight's zeros look like, as values rather than scattered strings.

A :class:`Pattern` is the vocabulary users write in ``sparsity={...}`` overrides and the
report prints: ``dense``, ``csr`` (unstructured), ``bsr16`` (16x16 blocks), ``2:4`` (N:M
along the reduction dimension) or ``channels`` (whole output rows / input columns
removed). How a weight of some pattern is *stored* for a kernel is a separate choice,
made by ``schedule`` among the storage formats of :mod:`sparsile.passes.formats`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

BLOCK_SIZES = (4, 8, 16, 32)
NM_PATTERNS = ((1, 4), (2, 8), (2, 4), (4, 8))


class PatternKind(enum.Enum):
    """The kinds of structure detection names."""

    DENSE = "dense"
    CSR = "csr"
    BSR = "bsr"
    NM = "nm"
    CHANNELS = "channels"


@dataclass(frozen=True)
class Pattern:
    """A pattern kind with its parameters: block size for BSR, (n, m) for N:M."""

    kind: PatternKind
    block: int = 0
    n: int = 0
    m: int = 0

    def __str__(self) -> str:
        if self.kind is PatternKind.BSR:
            return f"bsr{self.block}"
        if self.kind is PatternKind.NM:
            return f"{self.n}:{self.m}"
        return self.kind.value

    @property
    def is_sparse(self) -> bool:
        return self.kind is not PatternKind.DENSE

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """Parse ``dense``, ``csr``, ``bsr<B>``, ``<N>:<M>`` or ``channels``."""
        spec = text.strip().lower()
        if spec in ("dense", "csr", "channels"):
            return cls(PatternKind(spec))
        if spec in ("unstructured", "coo"):
            return cls(PatternKind.CSR)
        m = re.fullmatch(r"bsr(\d+)", spec)
        if m and int(m[1]) >= 2 and int(m[1]) & (int(m[1]) - 1) == 0:
            return cls(PatternKind.BSR, block=int(m[1]))
        m = re.fullmatch(r"(\d+):(\d+)", spec)
        if m and 0 < int(m[1]) < int(m[2]):
            return cls(PatternKind.NM, n=int(m[1]), m=int(m[2]))
        raise ValueError(
            f"unknown sparsity pattern {text!r}; expected dense, csr, channels, "
            f"bsr<B> with B a power of two (detection tries {', '.join(map(str, BLOCK_SIZES))}), or N:M such as 2:4"
        )


DENSE = Pattern(PatternKind.DENSE)
CSR = Pattern(PatternKind.CSR)
CHANNELS = Pattern(PatternKind.CHANNELS)
