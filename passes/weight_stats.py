"""What every pattern test starts from: a weight's nonzeros, empty rows and empty input channels.

Weights are seen as ``[out, red]`` matrices: rows are output neurons/filters,
columns run along the reduction dimension (conv filters are flattened to
``[F, C*KH*KW]``, channels being groups of ``KH*KW`` columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
