"""ELLPACK storage in numpy alone: a fixed number of slots per row (or per block row, or per group of M).

Used by the ``ell``, ``nmell`` and ``bell`` formats and by the GPU benchmark, which packs its
weights on a machine without the compiler (so this module imports numpy only).
Empty slots hold the value 0 (ELL rows: at column 0; N:M groups: at a place the group does
not use), so they add ``0 * x[m, column]``.
"""

from __future__ import annotations

import numpy as np


def column_array(cols: np.ndarray, bits: int) -> np.ndarray:
    """Columns as stored: int32, or uint16 bit patterns in int16 (read back unsigned)."""
    return cols.astype(np.uint16).view(np.int16) if bits == 16 else cols.astype(np.int32)


def read_columns(cols: np.ndarray) -> np.ndarray:
    """Stored columns as int64 (16-bit ones unsigned)."""
    return cols.view(np.uint16).astype(np.int64) if cols.dtype == np.int16 else cols.astype(np.int64)


def column_bits(width: int) -> int:
    """16-bit columns where every column fits an unsigned 16-bit index, else 32."""
    return 16 if width <= 65536 else 32


def gather_column_bits(width: int, rows: int, target: str) -> int:
    """The bits of ``ell``'s gathered columns: 16 where the columns fit, but 32 for one row on Vulkan.

    IREE 3.13's generic Vulkan target has no 16-bit storage, so 16-bit buffers are
    emulated with 32-bit words; its one-row gather is vectorised (``BaseVectorize``)
    and the ``vector<4xi16>`` column loads come out as ``vector<4xi32>`` loads at a
    32-bit stride, which read the wrong columns (right at 2+ rows, where the loop
    stays scalar, and with 32-bit columns).
    """
    return 32 if target == "vulkan" and rows == 1 else column_bits(width)


def block_column_bits(width: int, target: str) -> int:
    """The bits of ``bell``'s shared columns: 16 where they fit, 32 on Vulkan at any row count.

    On Vulkan the one-row GEMV misreads 16-bit columns as ``ell``'s does, and the
    block matmul's vectorised gather needs a ``vector<2xi32>`` to ``vector<4xi16>``
    bitcast that IREE 3.13's SPIR-V conversion cannot legalise. A column serves the B
    values of its block column, so 32 bits cost 2/B bytes more per value.
    """
    return 32 if target == "vulkan" else column_bits(width)


def row_width(weight: np.ndarray) -> int:
    """The slots per row: the most nonzeros any row holds (at least 1)."""
    return max(1, int((weight != 0).sum(axis=1).max(initial=0)))


def pack_rows(weight: np.ndarray, width: int, bits: int) -> dict[str, np.ndarray]:
    """``values [N, width]`` and ``cols [N, width]``: each row's nonzeros, by column, then empty slots."""
    nonzero = weight != 0
    # A stable sort on "is zero" puts each row's nonzero columns first, in column order.
    order = _first_slots(np.argsort(~nonzero, axis=1, kind="stable"), width)
    kept = np.take_along_axis(nonzero, order, axis=1) & (np.arange(width) < weight.shape[1])
    values = np.where(kept, np.take_along_axis(weight, order, axis=1), 0).astype(weight.dtype)
    cols = np.where(kept, order, 0)
    return {"values": np.ascontiguousarray(values), "cols": column_array(cols, bits)}


def _first_slots(order: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` columns of ``order``, padded with column 0 where a row has fewer (empty slots)."""
    rows, available = order.shape
    if width <= available:
        return order[:, :width]
    return np.concatenate([order, np.zeros((rows, width - available), order.dtype)], axis=1)


def unpack_rows(values: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The dense ``[N, K]`` weight of row slots (empty slots add nothing)."""
    dense = np.zeros(shape, dtype=values.dtype)
    rows = np.repeat(np.arange(shape[0]), values.shape[1])
    np.add.at(dense, (rows, read_columns(cols).ravel()), values.ravel())
    return dense


def block_width(weight: np.ndarray, block: int) -> int:
    """The block slots per block row: the most nonzero ``block``x``block`` blocks any block row holds (at least 1)."""
    return max(1, int(_occupied(weight, block).sum(axis=1).max(initial=0)))


def _occupied(weight: np.ndarray, block: int) -> np.ndarray:
    rows, cols = weight.shape
    return (weight.reshape(rows // block, block, cols // block, block) != 0).any(axis=(1, 3))


def pack_blocks(weight: np.ndarray, block: int, width: int, bits: int) -> dict[str, np.ndarray]:
    """``values [N/B, B, width*B]`` and ``cols [N/B, width*B]``: each block row's nonzero blocks, then empty slots.

    Slot ``s`` of block row ``nb`` is column ``cols[nb, s]`` (block column ``s // B``'s
    ``s % B``-th column) for all B rows of the block row, so one gathered activation
    serves B rows; the columns cost 1/B of an index per value.
    """
    rows, cols = weight.shape
    nb = rows // block
    blocks = weight.reshape(nb, block, cols // block, block).transpose(0, 2, 1, 3)  # [NB, KB, r, c]
    occupied = _occupied(weight, block)
    order = _first_slots(np.argsort(~occupied, axis=1, kind="stable"), width)
    kept = np.take_along_axis(occupied, order, axis=1) & (np.arange(width) < occupied.shape[1])
    chosen = np.take_along_axis(blocks, order[:, :, None, None], axis=1) * kept[:, :, None, None]  # [NB, W, r, c]
    values = chosen.transpose(0, 2, 1, 3).reshape(nb, block, width * block)
    columns = (np.where(kept, order, 0)[:, :, None] * block + np.arange(block)).reshape(nb, width * block)
    return {"values": np.ascontiguousarray(values.astype(weight.dtype)), "cols": column_array(columns, bits)}


def unpack_blocks(values: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The dense ``[N, K]`` weight of block-row slots (empty slots add nothing)."""
    nb, b, slots = values.shape
    dense = np.zeros((nb, b, shape[1]), dtype=values.dtype)
    columns = np.broadcast_to(read_columns(cols)[:, None, :], values.shape)
    np.add.at(dense, (np.arange(nb)[:, None, None], np.arange(b)[None, :, None], columns), values)
    return dense.reshape(shape)


def group_slots(in_features: int, n: int, m: int) -> int:
    """The slots per row of N:M storage: ``n`` for every group of ``m`` columns."""
    return in_features // m * n


def pack_groups(weight: np.ndarray, n: int, m: int) -> dict[str, np.ndarray]:
    """``values [N, K/m*n]`` and ``positions [N, K/m*n]`` (int8): each group's ``n`` kept values and their places in it.

    Slot ``s`` of a row holds column ``(s // n) * m + positions[s]``. A group with fewer
    than ``n`` nonzeros fills its slots with zeros at places it does not use; a group's
    positions rise.
    """
    rows, cols = weight.shape
    groups = weight.reshape(rows, cols // m, m)
    # A stable sort on "is zero" lists a group's nonzero places first, then its zero ones.
    places = np.sort(np.argsort(groups == 0, axis=2, kind="stable")[:, :, :n], axis=2)
    values = np.take_along_axis(groups, places, axis=2)
    return {"values": np.ascontiguousarray(values.reshape(rows, -1)), "positions": places.reshape(rows, -1).astype(np.int8)}


def unpack_groups(values: np.ndarray, positions: np.ndarray, n: int, m: int, shape: tuple[int, int]) -> np.ndarray:
    """The dense ``[N, K]`` weight of N:M slots."""
    rows, cols = shape
    dense = np.zeros((rows, cols // m, m), dtype=values.dtype)
    places = positions.astype(np.int64).reshape(rows, cols // m, n)
    np.put_along_axis(dense, places, values.reshape(rows, cols // m, n), axis=2)
    return dense.reshape(shape)
