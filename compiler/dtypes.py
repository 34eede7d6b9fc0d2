"""Element types across MLIR, numpy and torch, in one table."""

from __future__ import annotations

# MLIR element type -> numpy dtype name. bf16 has no numpy dtype: torch only.
_MLIR_TO_NUMPY = {
    "f16": "float16",
    "f32": "float32",
    "f64": "float64",
    "bf16": "bfloat16",
    "i1": "bool",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
}


def numpy_dtype_name(mlir_type: str) -> str:
    """The dtype name used in manifests (numpy spelling) for an MLIR element type."""
    try:
        return _MLIR_TO_NUMPY[mlir_type]
    except KeyError:
        raise ValueError(f"element type {mlir_type} has no manifest dtype") from None
