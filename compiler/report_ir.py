"""Reading the sparsity report off the IR of the ``annotated`` or ``kernels`` stage.

A kernel op's row measures its storage (the bytes of its storage operands, the
values its format streams, the mask its format unpacks, and a tied weight's dense
constant that other ops keep reading); a weight constant that
``detect-sparsity`` recorded but no kernel took (a dense fallback, or the
``annotated`` stage) is measured as the dense constant it is.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from .constants import constant_array
from .mlir import ir
from .passes import sparsity_attr
from .passes.contraction import CONTRACTION_OPS
from .passes.ir_query import entry_candidates, symbol_name, walk_ops
from .passes.kernel_ops import Kernel, is_kernel
from .passes.weights import CONV_OPS, weight_use_of
from .report import LayerReport, SparsityReport, speedup_class

MAP_CELLS = 64


def collect(module: ir.Module) -> SparsityReport:
    """The report of a module in the ``kernels`` stage (or ``annotated``: no kernels yet).

    In a module exporting several functions each row names its function, and the rows
    come function by function, in the module's order.
    """
    layers: list[tuple[int, int, LayerReport]] = []
    exported = [symbol_name(f) for f in entry_candidates(module.operation)]
    for op in walk_ops(module.operation):
        record = sparsity_attr.read(op)
        if record is None:
            continue
        if is_kernel(op):
            row = _kernel_row(Kernel(op), record)
        elif op.name == "arith.constant":
            row = _constant_row(record, _weight_of_constant(op, record))
        elif op.name in CONTRACTION_OPS or op.name in CONV_OPS:
            row = _constant_row(record, _weight_of_consumer(op))
        else:
            continue
        if row is None:
            continue
        function = _function_name(op) if len(exported) > 1 else ""
        if function:
            row.function = function
        position = exported.index(function) if function in exported else 0
        layers.append((position, int(record.get("order", 0)), row))
    return SparsityReport([layer for _, _, layer in sorted(layers, key=lambda item: item[:2])])


def _function_name(op: ir.Operation) -> str:
    parent = op.parent
    while parent is not None and parent.name != "func.func":
        parent = parent.parent
    return symbol_name(parent) if parent is not None else ""


def _kernel_row(kernel: Kernel, record: dict[str, Any]) -> LayerReport | None:
    storage = kernel.storage_arrays()
    if storage is None:
        return None
    fmt = kernel.format
    weight = _uncompacted(fmt.unpack(storage, kernel.params, kernel.shape), record)
    stored = fmt.stored_values(storage, kernel.params)
    stored_bytes = float(sum(a.nbytes for a in storage.values()))
    description = fmt.describe(kernel.params)
    # A tied weight (an embedding gathers from it) keeps its dense constant beside sparse storage.
    tied = int(record.get("tied_dense_bytes", 0)) if fmt.name != "dense" else 0
    if tied:
        description += f"; the dense weight stays for its other readers (tied, {tied / 1024:.0f} KiB)"
    values = storage.get("values")
    precision = str(kernel.params.get("quant") or (_element_name(values.dtype) if values is not None else record.get("dtype", "")))
    return _row(record, weight, fmt.name, description, stored, stored_bytes + tied, precision)


def _uncompacted(weight: np.ndarray, record: dict[str, Any]) -> np.ndarray:
    """A compacted weight at the layer's own shape, its removed rows and columns zero (so the mask shows them)."""
    out_f, in_f = record["out_features"], record["in_features"]
    if weight.shape == (out_f, in_f):
        return weight
    rows = sparsity_attr.decode_mask(record["kept_outputs"], out_f) if "kept_outputs" in record else np.ones(out_f, bool)
    cols = sparsity_attr.decode_mask(record["kept_inputs"], in_f) if "kept_inputs" in record else np.ones(in_f, bool)
    if (int(rows.sum()), int(cols.sum())) != weight.shape:
        return weight  # the record does not say where the kept channels sit
    full = np.zeros((out_f, in_f), weight.dtype)
    full[np.ix_(rows, cols)] = weight
    return full


def _weight_of_constant(op: ir.Operation, record: dict[str, Any]) -> np.ndarray | None:
    """A recorded weight constant (annotated stage) as ``[out, in]``."""
    array = constant_array(op)
    if array is None:
        return None
    array = array.T if record.get("reduction_dim", 1) == 0 else array
    return np.asarray(array).reshape(record["out_features"], -1)


def _weight_of_consumer(op: ir.Operation) -> np.ndarray | None:
    """The ``[out, in]`` weight a contraction or convolution reads, if it is constant.

    The consumer's indexing maps say which axis of the constant is summed over, so it
    does not matter whether canonicalization folded the importer's transpose into it.
    """
    use = weight_use_of(op)
    weight = use.matrix() if use is not None else None
    return None if weight is None else np.asarray(weight)


def _constant_row(record: dict[str, Any], weight: np.ndarray | None) -> LayerReport | None:
    size = record["out_features"] * record["in_features"]
    nbytes = float(weight.nbytes) if weight is not None else float(record.get("stored_bytes", 4 * size))
    fmt = record.get("format", record["pattern"])
    precision = _element_name(weight.dtype) if weight is not None else str(record.get("dtype", ""))
    return _row(record, weight, fmt, "", size if fmt == "dense" else int(record.get("density", 1.0) * size), nbytes, precision)


#: Bytes per element of the element types a model's weights come in (its dense size is counted in them).
_ELEMENT_BYTES = {"f64": 8, "f32": 4, "f16": 2, "bf16": 2}


def _element_name(dtype: np.dtype) -> str:
    """The MLIR name of a numpy float dtype (``float16`` -> ``f16``)."""
    return {"float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16"}.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _row(
    record: dict[str, Any], weight: np.ndarray | None, fmt: str, storage: str, stored: int, stored_bytes: float, precision: str = ""
) -> LayerReport:
    out_f, in_f, rows = record["out_features"], record["in_features"], record["batch_rows"]
    # The dense size is the model's own: in the dtype it arrived in, whatever the storage (a quantized weight unpacks to float32).
    element_bytes = _ELEMENT_BYTES.get(str(record.get("dtype")), weight.dtype.itemsize if weight is not None else 4)
    predicted, dense_predicted = float(record.get("predicted_us", 0.0)), float(record.get("dense_predicted_us", 0.0))
    measured, dense_measured = float(record.get("measured_us", 0.0)), float(record.get("dense_measured_us", 0.0))
    speedup = dense_measured / measured if measured else dense_predicted / predicted if predicted else 1.0
    return LayerReport(
        name=record["layer"],
        shape=(out_f, in_f),
        density=record["density"],
        detected=record["detected"],
        pattern=record["pattern"],
        format=fmt,
        source=record["source"],
        dense_flops=2.0 * rows * out_f * in_f,
        sparse_flops=2.0 * rows * stored,
        dense_bytes=float(element_bytes * out_f * in_f),
        sparse_bytes=stored_bytes,
        speedup=speedup_class(speedup) if predicted or measured or fmt == "dense" else "unmeasured",
        storage=storage,
        stored_values=stored,
        predicted_us=predicted,
        dense_predicted_us=dense_predicted,
        measured_us=float(record.get("measured_us", 0.0)),
        dense_measured_us=float(record.get("dense_measured_us", 0.0)),
        fallback=record.get("fallback", ""),
        density_map=_density_map(weight) if weight is not None else {},
        precision=precision,
    )


def _density_map(weight: np.ndarray) -> dict[str, Any]:
    """The fraction of nonzeros per square cell of a grid at most MAP_CELLS long (the weight's aspect ratio), as uint8 in base64."""
    mask = (weight != 0).astype(np.float32)
    rows, cols = mask.shape
    fy = fx = max(1, -(-max(rows, cols) // MAP_CELLS))
    padded = np.zeros((-(-rows // fy) * fy, -(-cols // fx) * fx), np.float32)
    padded[:rows, :cols] = mask
    cells = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx).mean(axis=(1, 3))
    data = np.round(cells * 255).astype(np.uint8)
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode()}
