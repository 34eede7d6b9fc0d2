"""Measuring a weight's zeros and naming its pattern (numpy only, no IR).

Weights are seen as ``[out, red]`` matrices: rows are output neurons/filters,
columns run along the reduction dimension (conv filters are flattened to
``[F, C*KH*KW]``, channels being groups of ``KH*KW`` columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..dialects.formats import BLOCK_SIZES, CHANNELS, CSR, DENSE, NM_PATTERNS, Format, Pattern

#: Kept rows/columns must be at least this full for "channels".
CHANNEL_FILL = 0.9
#: Nonzero blocks must be at least this full for "bsr<B>".
BLOCK_FILL = 0.9
#: An N:M pattern counts only if the weight is about as dense as N/M (not far sparser).
NM_TIGHTNESS = 0.75


@dataclass
class SparsityStats:
    """What detection measured on one weight."""

    shape: tuple[int, int]
    nnz: int
    zero_rows: int
    zero_cols: int
    kept_fill: float
    nm: tuple[int, int] | None
    block_density: dict[int, float] = field(default_factory=dict)
    fanin: int | None = None

    @property
    def density(self) -> float:
        return self.nnz / max(1, self.shape[0] * self.shape[1])

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density

    def block_fill(self, block: int) -> float:
        """How full the nonzero ``block``x``block`` blocks are (1.0 = perfectly blocky)."""
        occupied = self.block_density.get(block, 0.0)
        return self.density / occupied if occupied else 0.0


def measure(weight: np.ndarray, channel_group: int = 1) -> SparsityStats:
    """Measure ``weight`` (``[out, red]``); ``channel_group`` columns form one input channel."""
    mask = weight != 0
    rows, cols = mask.shape
    nnz = int(mask.sum())
    row_nnz = mask.sum(axis=1)
    col_any = mask.reshape(rows, cols // channel_group, channel_group).any(axis=(0, 2))
    zero_rows = int((row_nnz == 0).sum())
    zero_cols = int((~col_any).sum())
    kept = (rows - zero_rows) * (cols - zero_cols * channel_group)
    nonzero_rows = row_nnz[row_nnz > 0]
    return SparsityStats(
        shape=(rows, cols),
        nnz=nnz,
        zero_rows=zero_rows,
        zero_cols=zero_cols,
        kept_fill=nnz / kept if kept else 0.0,
        nm=tightest_nm(mask),
        block_density={b: block_density(mask, b) for b in BLOCK_SIZES if rows % b == 0 and cols % b == 0},
        fanin=int(nonzero_rows[0]) if len(nonzero_rows) and (nonzero_rows == nonzero_rows[0]).all() else None,
    )


def nm_violation(mask: np.ndarray, n: int, m: int) -> tuple[int, int, int] | None:
    """The first group breaking N:M as (row, first column, nonzeros), or None when N:M holds."""
    rows, cols = mask.shape
    if cols % m:
        return (0, cols - cols % m, -1)
    counts = mask.reshape(rows, cols // m, m).sum(axis=2)
    bad = np.argwhere(counts > n)
    if len(bad) == 0:
        return None
    r, g = bad[0]
    return int(r), int(g) * m, int(counts[r, g])


def tightest_nm(mask: np.ndarray) -> tuple[int, int] | None:
    """The N:M pattern with the smallest N/M (then smallest M) that the mask satisfies."""
    holding = [(n, m) for n, m in NM_PATTERNS if nm_violation(mask, n, m) is None]
    return min(holding, key=lambda nm: (nm[0] / nm[1], nm[1])) if holding else None


def block_density(mask: np.ndarray, block: int) -> float:
    """The fraction of ``block``x``block`` blocks holding at least one nonzero."""
    rows, cols = mask.shape
    blocks = mask.reshape(rows // block, block, cols // block, block).any(axis=(1, 3))
    return float(blocks.mean())


def choose_pattern(stats: SparsityStats, min_sparsity: float, allowed: frozenset[Format]) -> Pattern:
    """The pattern that describes ``stats`` best among ``allowed`` (dense below ``min_sparsity``)."""
    if stats.nnz == stats.shape[0] * stats.shape[1] or stats.sparsity < min_sparsity:
        return DENSE
    if Format.CHANNELS in allowed and (stats.zero_rows or stats.zero_cols) and stats.kept_fill >= CHANNEL_FILL:
        return CHANNELS
    # Full blocks before N:M: a weight made of dense tiles runs best as tiles.
    if Format.BSR in allowed:
        for block in sorted(stats.block_density, reverse=True):
            if stats.block_fill(block) >= BLOCK_FILL:
                return Pattern(Format.BSR, block=block)
    if Format.NM in allowed and stats.nm is not None:
        n, m = stats.nm
        if stats.density >= NM_TIGHTNESS * n / m:
            return Pattern(Format.NM, n=n, m=m)
    if Format.CSR in allowed:
        return CSR
    return DENSE


def describe(stats: SparsityStats, pattern: Pattern) -> str:
    """A short human description of the detected structure, for reports."""
    parts = [str(pattern)]
    if stats.zero_rows:
        parts.append(f"{stats.zero_rows}/{stats.shape[0]} rows empty")
    if stats.zero_cols:
        parts.append(f"{stats.zero_cols} input channels empty")
    if pattern.format is Format.CSR and stats.fanin is not None:
        parts.append(f"constant fan-in {stats.fanin}")
    return "; ".join(parts)


def check_requested(mask: np.ndarray, pattern: Pattern, channel_group: int = 1) -> str | None:
    """Why ``pattern`` does not hold for ``mask`` (``[out, red]``), or None when it does."""
    rows, cols = mask.shape
    if pattern.format is Format.NM:
        bad = nm_violation(mask, pattern.n, pattern.m)
        if bad is None:
            return None
        row, col, count = bad
        if count < 0:
            return f"its reduction dimension ({cols}) is not a multiple of {pattern.m}"
        return f"row {row}, columns {col}..{col + pattern.m - 1} hold {count} nonzeros (at most {pattern.n} allowed)"
    if pattern.format is Format.BSR and (rows % pattern.block or cols % pattern.block):
        return f"its shape {rows}x{cols} is not a multiple of {pattern.block}x{pattern.block} blocks"
    if pattern.format is Format.CHANNELS:
        stats = measure(mask.astype(np.float32), channel_group)
        if not (stats.zero_rows or stats.zero_cols):
            return "it has no all-zero output rows or input channels"
    return None
