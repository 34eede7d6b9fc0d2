"""Running ``native-cpu`` artifacts: an LLVM-dialect module JIT-compiled in process.

The entry function was lowered with ``llvm.emit_c_interface`` after
``sparse-assembler{direct-out}``, so its C interface takes one ranked memref
descriptor per dense tensor and per storage array of a sparse tensor
(positions, coordinates, values), and returns the same for its results through
a pointer to a struct of descriptors.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch_mlir.execution_engine import ExecutionEngine
from torch_mlir.runtime import np_to_memref

from ..errors import RuntimeLoadError
from ..mlir import ir, new_context

_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]


class _Unranked(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int64), ("descriptor", ctypes.c_void_p)]


_MEMREF_COPY = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.POINTER(_Unranked), ctypes.POINTER(_Unranked))


def _strided_bytes(memref: _Unranked, element_size: int) -> np.ndarray:
    """A uint8 view ``[*sizes, element_size]`` of a memref described by an unranked descriptor."""
    rank = memref.rank
    words = (ctypes.c_int64 * (3 + 2 * rank)).from_address(memref.descriptor)
    aligned, offset = words[1], words[2]
    sizes, strides = list(words[3 : 3 + rank]), list(words[3 + rank : 3 + 2 * rank])
    extent = element_size * (1 + sum((n - 1) * s for n, s in zip(sizes, strides) if n > 0))
    base = np.ctypeslib.as_array((ctypes.c_uint8 * extent).from_address(aligned + offset * element_size))
    return np.lib.stride_tricks.as_strided(base, [*sizes, element_size], [s * element_size for s in strides] + [1])


def _memref_copy(element_size: int, source: Any, target: Any) -> None:
    """``memrefCopy`` of MLIR's C runner utils, which the JIT-ed code may call for strided copies.

    The runner-utils library does not ship with torch-mlir's wheel, so sparsile provides it.
    """
    _strided_bytes(target.contents, element_size)[...] = _strided_bytes(source.contents, element_size)


_memref_copy_callback = _MEMREF_COPY(_memref_copy)


@dataclass(frozen=True)
class FlatArray:
    """One array of the C interface: its rank and numpy dtype."""

    rank: int
    dtype: str


def _descriptor_type(flat: FlatArray) -> type:
    ctype = np_to_memref.as_ctype(np.dtype(flat.dtype))
    if flat.rank == 0:
        return np_to_memref.make_zero_d_memref_descriptor(ctype)
    return np_to_memref.make_nd_memref_descriptor(flat.rank, ctype)


class NativeModule:
    """A JIT-compiled entry function, called with numpy arrays."""

    def __init__(self, llvm_module: bytes, entry: str, results: Sequence[FlatArray], opt_level: int = 3):
        self._ctx = new_context()
        try:
            with self._ctx:
                self._module = ir.Module.parse(llvm_module)
            self._engine = ExecutionEngine(self._module, opt_level=opt_level)
            self._engine.raw_register_runtime("memrefCopy", ctypes.cast(_memref_copy_callback, ctypes.c_void_p))
        except (ir.MLIRError, RuntimeError, ValueError) as err:
            raise RuntimeLoadError(f"the native module could not be JIT-compiled: {err}") from None
        self._entry = entry
        fields = [(f"r{i}", _descriptor_type(r)) for i, r in enumerate(results)]
        self._result_struct = type("Results", (ctypes.Structure,), {"_fields_": fields})
        self._results = list(results)

    def __call__(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        inputs = [np.ascontiguousarray(a) for a in arrays]
        descriptors = [ctypes.pointer(ctypes.pointer(np_to_memref.get_ranked_memref_descriptor(a))) for a in inputs]
        out = self._result_struct()
        self._engine.invoke(self._entry, ctypes.pointer(ctypes.pointer(out)), *descriptors)
        owned = {a.ctypes.data for a in inputs}
        results = []
        for i, flat in enumerate(self._results):
            descriptor = getattr(out, f"r{i}")
            results.append(_copy_out(descriptor, flat))
            allocated = descriptor.allocated
            if allocated and allocated not in owned:
                _libc.free(allocated)  # the JIT-ed code malloc'ed it for us
        return results

    def write_object(self, path: str | Path) -> Path:
        """Write the compiled code as an object file (link it with the C interface of ``entry``)."""
        self._engine.dump_to_object_file(str(path))
        return Path(path)

    def release(self) -> None:
        self._engine = None
        self._module = None


def _copy_out(descriptor: Any, flat: FlatArray) -> np.ndarray:
    dtype = np.dtype(flat.dtype)
    if flat.rank == 0:
        pointer = ctypes.cast(descriptor.aligned, ctypes.POINTER(np_to_memref.as_ctype(dtype)))
        return np.array(pointer[0], dtype=dtype)
    shape = list(descriptor.shape)
    if 0 in shape:
        return np.zeros(shape, dtype)
    view = np_to_memref.ranked_memref_to_numpy([descriptor])
    return np.array(view, dtype=dtype, copy=True)
