"""Packing a weight into the operands of its sparsile kernel op, and back.

Weights are ``[out, in]`` numpy arrays; each format packs into the arrays named
in :mod:`sparsile.dialects.sparsile_dialect`. ``unpack`` is the exact inverse on
the weight's nonzeros (it is how the dense fallback and the tests read a packing).
"""

from __future__ import annotations

import numpy as np

from .formats import Format, Pattern


def pack(weight: np.ndarray, pattern: Pattern) -> dict[str, np.ndarray]:
    """The packed operands of ``weight`` (``[out, in]``) in ``pattern``'s format."""
    fmt = pattern.format
    if fmt is Format.CSR:
        return _pack_csr(weight)
    if fmt is Format.BSR:
        return _pack_bsr(weight, pattern.block)
    if fmt is Format.NM:
        return _pack_nm(weight, pattern.n, pattern.m)
    if fmt is Format.CHANNELS:
        return _pack_channels(weight)
    raise ValueError(f"nothing to pack for {pattern}")


def unpack(packed: dict[str, np.ndarray], pattern: Pattern, shape: tuple[int, int]) -> np.ndarray:
    """The dense ``[out, in]`` weight of a packing."""
    rows, cols = shape
    fmt = pattern.format
    dense = np.zeros(shape, dtype=packed["values"].dtype)
    if fmt is Format.CSR:
        offsets = packed["row_offsets"]
        row_of = np.repeat(np.arange(rows), np.diff(offsets))
        dense[row_of, packed["col_indices"]] = packed["values"]
    elif fmt is Format.BSR:
        b = pattern.block
        offsets = packed["block_row_offsets"]
        block_row = np.repeat(np.arange(rows // b), np.diff(offsets))
        for value, r, c in zip(packed["values"], block_row, packed["block_cols"]):
            dense[r * b : (r + 1) * b, c * b : (c + 1) * b] = value
    elif fmt is Format.NM:
        n, m = pattern.n, pattern.m
        kept = packed["values"].shape[1]
        group = np.arange(kept) // n
        cols_of = group[None, :] * m + packed["positions"].astype(np.int64)
        np.put_along_axis(dense, cols_of, packed["values"], axis=1)
    elif fmt is Format.CHANNELS:
        dense[np.ix_(packed["rows"], packed["cols"])] = packed["values"]
    else:
        raise ValueError(f"nothing to unpack for {pattern}")
    return dense


def _pack_csr(weight: np.ndarray) -> dict[str, np.ndarray]:
    rows, cols = np.nonzero(weight)
    offsets = np.zeros(weight.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=weight.shape[0]), out=offsets[1:])
    return {
        "values": np.ascontiguousarray(weight[rows, cols]),
        "col_indices": cols.astype(np.int32),
        "row_offsets": offsets,
    }


def _pack_bsr(weight: np.ndarray, block: int) -> dict[str, np.ndarray]:
    rows, cols = weight.shape
    blocks = weight.reshape(rows // block, block, cols // block, block).transpose(0, 2, 1, 3)
    occupied = (blocks != 0).any(axis=(2, 3))
    block_rows, block_cols = np.nonzero(occupied)
    offsets = np.zeros(rows // block + 1, dtype=np.int32)
    np.cumsum(occupied.sum(axis=1), out=offsets[1:])
    return {
        "values": np.ascontiguousarray(blocks[block_rows, block_cols]),
        "block_cols": block_cols.astype(np.int32),
        "block_row_offsets": offsets,
    }


def _pack_nm(weight: np.ndarray, n: int, m: int) -> dict[str, np.ndarray]:
    rows, cols = weight.shape
    groups = weight.reshape(rows, cols // m, m)
    # The nonzero slots of each group first (stable sort), padded with zero slots in position order.
    order = np.argsort(groups == 0, axis=2, kind="stable")[:, :, :n]
    order.sort(axis=2)
    values = np.take_along_axis(groups, order, axis=2)
    return {
        "values": np.ascontiguousarray(values.reshape(rows, cols // m * n)),
        "positions": order.reshape(rows, cols // m * n).astype(np.int8),
    }


def _pack_channels(weight: np.ndarray) -> dict[str, np.ndarray]:
    mask = weight != 0
    rows = np.nonzero(mask.any(axis=1))[0].astype(np.int32)
    cols = np.nonzero(mask.any(axis=0))[0].astype(np.int32)
    return {"values": np.ascontiguousarray(weight[np.ix_(rows, cols)]), "rows": rows, "cols": cols}


def pack_chunked_csr(weight: np.ndarray, chunk: int) -> dict[str, np.ndarray]:
    """CSR split into K-chunks of ``chunk`` columns and stored chunk-major.

    ``offsets[c * N + n] .. offsets[c * N + n + 1]`` are the entries of row ``n`` in chunk
    ``c``; ``cols`` are absolute column indices. With ``chunk >= K`` this is plain CSR.
    """
    rows, cols_total = weight.shape
    chunks = -(-cols_total // chunk)
    padded = np.zeros((rows, chunks * chunk), weight.dtype)
    padded[:, :cols_total] = weight
    by_chunk = padded.reshape(rows, chunks, chunk).transpose(1, 0, 2)
    c, n, k = np.nonzero(by_chunk)
    offsets = np.zeros(chunks * rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(c * rows + n, minlength=chunks * rows), out=offsets[1:])
    return {
        "values": np.ascontiguousarray(by_chunk[c, n, k]),
        "cols": (c * chunk + k).astype(np.int32),
        "offsets": offsets,
    }
