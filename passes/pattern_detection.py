"""Measuring a weight's zeros and naming its pattern (numpy only, no IR).

What is common to every pattern is measured by :mod:`sparsile.passes.weight_stats`;
each pattern kind's own test (N:M groups, block fill, ...) lives in the storage format
that is its home (:mod:`sparsile.passes.formats`), asked here in detection order.
"""

from __future__ import annotations

import numpy as np

from ..dialects.patterns import DENSE, Pattern, PatternKind
from .weight_stats import SparsityStats


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
