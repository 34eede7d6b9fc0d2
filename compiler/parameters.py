"""Weights as IREE parameters: constants moved out of the IR into a parameter archive (``.irpa``).

Before the hand-off, every large weight constant (the model's dense weights and the
storage ``schedule`` packed for sparse ones) is written into an archive beside the
``.vmfb`` and replaced by a call of a private declaration marked
``sparsile.parameter = "<key>"``; :mod:`sparsile.iree_backend` turns each marker
into a ``util.global`` whose initial value is ``#stream.parameter.named<"model"::"<key>">``
and each call into a ``util.global.load``. The weights never cross to IREE's
bindings or to iree-compile, so compiling keeps one copy of them (in the context
that holds the IR) and the archive is written straight from it. Several functions
reading one weight read one global: an archive entry is stored once.

Keys are the weights' source names (``model.layers.0.mlp.up_proj.weight``), and for
packed storage the layer's weight name and the array's role
(``...up_proj.weight.values``); equal constants share one key.
"""

from __future__ import annotations

import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .constants import NAME_ATTR, constant_array
from .mlir import func, ir
from .passes.ir_query import walk_ops

#: The parameter scope the artifact's weights live in (``--parameters=model=model.irpa``).
SCOPE = "model"
#: The archive's file name in an artifact directory.
ARCHIVE_NAME = "model.irpa"
#: On a private declaration: the parameter key whose value its calls stand for.
PARAMETER_ATTR = "sparsile.parameter"
#: Constants smaller than this stay in the IR (biases of small layers, lookup tables): IREE may fold them.
MIN_BYTES = 4096
#: ``parameters=None`` moves the weights out once the constants together reach this size.
AUTO_THRESHOLD = 256 * 1024 * 1024

#: Element types an archive entry holds as raw bytes (i1 and i4 have no byte layout of their own).
_BYTE_TYPES = {"f16": 2, "bf16": 2, "f32": 4, "f64": 8, "i8": 1, "i16": 2, "i32": 4, "i64": 8}


@dataclass(eq=False)
class ParameterArchive:
    """An archive a compile wrote into a private temporary directory, removed when this object is collected."""

    path: Path
    keys: tuple[str, ...]
    nbytes: int

    def __post_init__(self) -> None:
        weakref.finalize(self, _remove_tree, self.path.parent)


def movable_constants(module: ir.Module, min_bytes: int = MIN_BYTES) -> list[tuple[ir.Operation, np.ndarray]]:
    """The ``arith.constant`` tensors of ``module`` that go into an archive, with their values (not copied)."""
    found = []
    for op in walk_ops(module.operation):
        if op.name != "arith.constant" or not isinstance(op.attributes["value"], ir.DenseElementsAttr):
            continue
        attr = ir.DenseElementsAttr(op.attributes["value"])
        if attr.is_splat or str(ir.ShapedType(attr.type).element_type) not in _BYTE_TYPES:
            continue
        shape = ir.ShapedType(attr.type).shape
        if int(np.prod(shape)) * _BYTE_TYPES[str(ir.ShapedType(attr.type).element_type)] < min_bytes:
            continue
        array = constant_array(op)
        if array is not None:
            found.append((op, array))
    return found


def wants_archive(requested: bool | None, constants: list[tuple[ir.Operation, np.ndarray]]) -> bool:
    """Whether the weights go into an archive: as ``parameters=`` says, or by their size when it is None."""
    if requested is not None:
        return requested
    return sum(array.nbytes for _, array in _distinct(constants)) >= AUTO_THRESHOLD


def externalize_weights(module: ir.Module, constants: list[tuple[ir.Operation, np.ndarray]]) -> ParameterArchive:
    """Write ``constants`` into a new archive and replace each by a call of its parameter marker.

    The archive is written from the constants' own memory (nothing is copied on the way).
    """
    import iree.runtime as iree_rt

    index = iree_rt.ParameterIndex()
    markers: dict[Any, str] = {}  # constant attribute -> marker symbol
    keys: list[str] = []
    taken: set[str] = set()
    nbytes = 0
    top = module.body
    with module.context:
        for op, array in constants:
            attr = op.attributes["value"]
            symbol = markers.get(attr)
            tensor_type = op.results[0].type
            if symbol is None:
                key = _unique(_key_of(op, len(keys)), taken)
                keys.append(key)
                nbytes += array.nbytes
                index.add_buffer(key, np.ascontiguousarray(array).view(np.uint8).reshape(-1))
                symbol = f"sparsile_parameter_{len(markers)}"
                markers[attr] = symbol
                with ir.InsertionPoint.at_block_begin(top), ir.Location.unknown():
                    decl = func.FuncOp(symbol, ir.FunctionType.get([], [tensor_type]), visibility="private")
                decl.attributes[PARAMETER_ATTR] = ir.StringAttr.get(key)
            with ir.InsertionPoint(op), op.location:
                call = func.CallOp([tensor_type], ir.FlatSymbolRefAttr.get(symbol), [])
            op.results[0].replace_all_uses_with(call.result)
            op.erase()
    path = Path(tempfile.mkdtemp(prefix="sparsile-parameters-")) / ARCHIVE_NAME
    archive = ParameterArchive(path, tuple(keys), nbytes)
    index.create_archive_file(str(path))
    del index
    return archive


def _remove_tree(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def _distinct(constants: list[tuple[ir.Operation, np.ndarray]]) -> list[tuple[ir.Operation, np.ndarray]]:
    seen: set[Any] = set()
    out = []
    for op, array in constants:
        attr = op.attributes["value"]
        if attr not in seen:
            seen.add(attr)
            out.append((op, array))
    return out


def _key_of(op: ir.Operation, ordinal: int) -> str:
    if NAME_ATTR in op.attributes:
        return ir.StringAttr(op.attributes[NAME_ATTR]).value
    return f"constant.{ordinal}"


def _unique(key: str, taken: set[str]) -> str:
    candidate, i = key, 1
    while candidate in taken:
        candidate = f"{key}#{i}"
        i += 1
    taken.add(candidate)
    return candidate
