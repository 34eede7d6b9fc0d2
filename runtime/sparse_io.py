"""Sparse tensors at the call boundary: torch sparse layouts <-> storage arrays.

A sparse argument of a ``native-cpu`` artifact is passed as the arrays MLIR's
``sparse-assembler`` expects, taken straight from the torch tensor without
densifying: CSR/BSR as (row positions, column coordinates, values), COO as
(positions ``[0, nnz]``, one coordinate array per dimension, values). Sparse
results come back the same way and are rebuilt as torch sparse tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..manifest import TensorSpec

_LAYOUT_NAMES = {"csr": "sparse_csr", "coo": "sparse_coo", "bsr": "sparse_bsr"}


def storage_shapes(spec: TensorSpec) -> list[tuple[int, str]]:
    """(rank, numpy dtype) of each array a tensor of ``spec`` travels as."""
    if spec.layout == "dense":
        return [(len(spec.shape), spec.dtype)]
    index = spec.index_dtype
    if spec.layout == "coo":
        return [(1, index)] + [(1, index)] * len(spec.shape) + [(1, spec.dtype)]
    return [(1, index), (1, index), (1, spec.dtype)]


def to_storage(value: Any, spec: TensorSpec, where: str) -> list[np.ndarray]:
    """The storage arrays of a torch sparse tensor matching ``spec`` (checked, not densified)."""
    import torch

    expected = getattr(torch, _LAYOUT_NAMES[spec.layout])
    if not isinstance(value, torch.Tensor) or value.layout is not expected:
        got = value.layout if isinstance(value, torch.Tensor) else type(value).__name__
        raise ArgumentError(f"{where}: expected a {spec.layout} sparse tensor ({spec.describe()}), got {got}")
    if tuple(value.shape) != spec.shape or str(value.dtype).removeprefix("torch.") != spec.dtype:
        raise ArgumentError(
            f"{where}: expected {spec.describe()}, got {str(value.dtype).removeprefix('torch.')}{list(value.shape)} {spec.layout}"
        )
    index = np.dtype(spec.index_dtype)
    if spec.layout == "coo":
        value = value.coalesce()  # sorted and unique, as the COO encoding requires
        indices = value.indices().numpy().astype(index)
        nnz = indices.shape[1]
        return [np.array([0, nnz], index), *[np.ascontiguousarray(row) for row in indices], value.values().numpy()]
    if spec.layout == "bsr":
        block = tuple(value.values().shape[-2:])
        if block != (spec.block, spec.block):
            raise ArgumentError(f"{where}: expected {spec.block}x{spec.block} blocks, got {block[0]}x{block[1]}")
    return [
        value.crow_indices().numpy().astype(index),
        value.col_indices().numpy().astype(index),
        np.ascontiguousarray(value.values().numpy().reshape(-1)),
    ]


def from_storage(arrays: list[np.ndarray], spec: TensorSpec) -> Any:
    """A torch sparse tensor of ``spec`` built from its storage arrays."""
    import torch

    if spec.layout == "coo":
        nnz = int(arrays[0][1])
        indices = np.stack([a[:nnz] for a in arrays[1:-1]])
        return torch.sparse_coo_tensor(torch.from_numpy(indices), torch.from_numpy(arrays[-1][:nnz]), spec.shape).coalesce()
    positions, coordinates, values = arrays
    nnz = int(positions[-1])
    if spec.layout == "bsr":
        b = spec.block
        blocks = torch.from_numpy(values[: nnz * b * b].reshape(nnz, b, b))
        return torch.sparse_bsr_tensor(
            torch.from_numpy(positions), torch.from_numpy(coordinates[:nnz]), blocks, spec.shape, check_invariants=False
        )
    return torch.sparse_csr_tensor(
        torch.from_numpy(positions),
        torch.from_numpy(coordinates[:nnz]),
        torch.from_numpy(values[:nnz]),
        spec.shape,
        check_invariants=False,  # built by the compiled code from a valid layout
    )
