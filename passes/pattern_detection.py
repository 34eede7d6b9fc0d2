"""Measuring a weight's zeros and naming its pattern (numpy only, no IR).

Weights are seen as ``[out, red]`` matrices: rows are output neurons/filters,
columns run along the reduction dimension (conv filters are flattened to
``[F, C*KH*KW]``, channels being groups of ``KH*KW`` columns). What is common to
every pattern is measured here; each pattern kind's own test (N:M groups, block
fill, ...) lives in the storage format that is its home (:mod:`sparsile.passes.formats`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dialects.patterns import DENSE, Pattern, PatternKind


@dataclass
class SparsityStats:
    """What detection measured on one weight."""

    shape: tuple[int, int]
    nnz: int
    zero_rows: int
    zero_cols: int
    kept_fill: float
    fanin: int | None = None

    @property
    def density(self) -> float:
        return self.nnz / max(1, self.shape[0] * self.shape[1])

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density


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
        fanin=int(nonzero_rows[0]) if len(nonzero_rows) and (nonzero_rows == nonzero_rows[0]).all() else None,
    )


def choose_pattern(mask: np.ndarray, stats: SparsityStats, min_sparsity: float, allowed: frozenset[PatternKind]) -> Pattern:
    """The pattern that describes the weight best among ``allowed`` kinds (dense below ``min_sparsity``).

    The home formats of the allowed kinds are asked in their detection order
    (channels, then blocks from the largest, then N:M, then unstructured).
    """
    from .formats import detection_order

    if stats.nnz == stats.shape[0] * stats.shape[1] or stats.sparsity < min_sparsity:
        return DENSE
    for fmt in detection_order():
        if fmt.kind in allowed:
            pattern = fmt.detect(mask, stats)
            if pattern is not None:
                return pattern
    return DENSE


def describe(stats: SparsityStats, pattern: Pattern) -> str:
    """A short human description of the detected structure, for reports."""
    parts = [str(pattern)]
    if stats.zero_rows:
        parts.append(f"{stats.zero_rows}/{stats.shape[0]} rows empty")
    if stats.zero_cols:
        parts.append(f"{stats.zero_cols} input channels empty")
    if pattern.kind is PatternKind.CSR and stats.fanin is not None:
        parts.append(f"constant fan-in {stats.fanin}")
    return "; ".join(parts)


def check_requested(mask: np.ndarray, pattern: Pattern, channel_group: int = 1) -> str | None:
    """Why ``pattern`` does not hold for ``mask`` (``[out, red]``), or None when it does."""
    from .formats import home_format

    home = home_format(pattern.kind)
    return None if home is None else home.violation(mask, pattern, channel_group)
