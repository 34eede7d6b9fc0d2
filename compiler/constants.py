"""Weight constants whose values passes can read as numpy arrays.

The Python bindings cannot read the data of a ``dense_resource`` attribute, so
every weight is kept as a ``DenseElementsAttr`` (read with ``np.asarray``, no
copy; bfloat16 ones, which the bindings' buffers do not support, are read from
their printed form into ``ml_dtypes.bfloat16`` arrays). Modules from ``.mlir`` files may carry ``dense_resource`` blobs: their
hex data is taken from the file's ``dialect_resources`` section and the
constants are rewritten to dense ones. A weight's source name (``fc1.weight``)
travels on its constant as the ``sparsile.name`` attribute.
"""

from __future__ import annotations

import functools
import re

import ml_dtypes
import numpy as np

from .errors import MLIRParseError
from .mlir import ir
from .passes.ir_query import walk_ops

NAME_ATTR = "sparsile.name"
#: A pattern the user declared for a weight (or "pruned"); detection honours it.
INTENT_ATTR = "sparsile.intent"
#: On an entry argument: ``[[min, max], ...]``, the range of each of its dimensions (set for dynamic ones).
BOUNDS_ATTR = "sparsile.bounds"
#: On an entry argument or result: the key of the state it carries between calls (a causal LM's KV
#: cache); the hand-off makes each key a mutable global the function loads and stores.
STATE_ATTR = "sparsile.state"

_RESOURCE_SECTION = re.compile(r"\{-#\s*dialect_resources:\s*\{\s*builtin:\s*\{(?P<body>.*?)\}\s*\}\s*#-\}", re.S)
_RESOURCE_ENTRY = re.compile(r'(?P<name>"[^"]*"|[\w.$\-]+)\s*:\s*"0x(?P<hex>[0-9A-Fa-f]*)"')
_RESOURCE_NAME = re.compile(r"dense_resource<(?P<name>[^>]*)>")
_NUMPY_OF = {
    "f16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "f32": np.float32,
    "f64": np.float64,
    "i8": np.int8,
    "i16": np.int16,
    "i32": np.int32,
    "i64": np.int64,
}


def constant_array(op: ir.Operation) -> np.ndarray | None:
    """The value of an ``arith.constant`` tensor as a (read-only) numpy array, else None."""
    if op.name != "arith.constant":
        return None
    attr = op.attributes["value"]
    if not isinstance(attr, ir.DenseElementsAttr):
        return None
    if isinstance(ir.ShapedType(attr.type).element_type, ir.BF16Type):
        return _bf16_array(attr)
    try:
        return np.asarray(attr)
    except (TypeError, ValueError):  # element types numpy cannot hold (i4 ...)
        return None


_HEX_DATA = re.compile(r'dense<"0x([0-9A-Fa-f]*)">')
_ELEMENT = re.compile(r"0x[0-9A-Fa-f]+|[-+]?(?:inf|nan|[0-9.]+(?:e[-+]?[0-9]+)?)")


@functools.lru_cache(maxsize=8)
def _bf16_array(attr: ir.DenseElementsAttr) -> np.ndarray:
    """A bfloat16 attribute's values (attributes are immutable and uniqued: the last few are cached).

    MLIR prints more than 100 elements as hex of their bits, fewer as a list of
    decimals (exact for bfloat16's 8-bit mantissa) or hex bit patterns (non-finite values).
    """
    shape = list(ir.ShapedType(attr.type).shape)
    if attr.is_splat:
        value = ir.FloatAttr(attr.get_splat_value()).value
        array = np.full(shape, value, dtype=np.float32).astype(ml_dtypes.bfloat16)
    else:
        text = str(attr)
        hex_data = _HEX_DATA.match(text)
        if hex_data is not None:
            array = np.frombuffer(bytes.fromhex(hex_data.group(1)), dtype=np.uint16).view(ml_dtypes.bfloat16).reshape(shape)
        else:
            body = text[: text.rindex(" : ")]
            bits = [np.uint16(int(t, 16)).view(ml_dtypes.bfloat16) if t.startswith("0x") else ml_dtypes.bfloat16(float(t))
                    for t in _ELEMENT.findall(body)]
            array = np.array(bits, dtype=ml_dtypes.bfloat16).reshape(shape)
    array.setflags(write=False)
    return array


def weight_name(op: ir.Operation) -> str | None:
    """The source name recorded on a constant by the importer, if any."""
    if NAME_ATTR in op.attributes:
        return ir.StringAttr(op.attributes[NAME_ATTR]).value
    return None


def resource_blobs(text: str) -> dict[str, bytes]:
    """The ``builtin`` resource blobs of printed MLIR: name -> raw data (alignment prefix removed)."""
    section = _RESOURCE_SECTION.search(text)
    if not section:
        return {}
    blobs = {}
    for m in _RESOURCE_ENTRY.finditer(section["body"]):
        data = bytes.fromhex(m["hex"])
        blobs[m["name"].strip('"')] = data[4:]  # the first 4 bytes hold the blob's alignment
    return blobs


def inline_dense_resources(module: ir.Module, text: str | None = None) -> int:
    """Rewrite ``dense_resource`` constants of ``module`` into dense ones; returns how many.

    ``text`` is the module's source when it was parsed from text; otherwise the
    module is printed to find its blobs.
    """
    constants = [
        op
        for op in walk_ops(module.operation)
        if op.name == "arith.constant" and _is_dense_resource(op.attributes["value"])
    ]
    if not constants:
        return 0
    blobs = resource_blobs(text if text is not None and "dialect_resources" in text else module.operation.get_asm())
    count = 0
    with module.context:
        for op in constants:
            attr = op.attributes["value"]
            match = _RESOURCE_NAME.match(str(attr))
            if match is None:
                continue
            name = match["name"].strip('"')
            tensor_type = ir.RankedTensorType(attr.type)
            dtype = _NUMPY_OF.get(str(tensor_type.element_type))
            blob = blobs.get(name)
            if dtype is None or blob is None:
                continue
            expected = int(np.prod(tensor_type.shape)) * np.dtype(dtype).itemsize
            if len(blob) != expected:
                raise MLIRParseError(
                    f"resource blob '{name}' holds {len(blob)} bytes; its type {tensor_type} needs {expected}"
                )
            array = np.frombuffer(blob, dtype=dtype).reshape(tensor_type.shape)
            op.attributes["value"] = ir.DenseElementsAttr.get(array, type=tensor_type.element_type)
            if NAME_ATTR not in op.attributes:
                op.attributes[NAME_ATTR] = ir.StringAttr.get(name)
            count += 1
    return count


def _is_dense_resource(attr: ir.Attribute) -> bool:
    if isinstance(attr, ir.DenseElementsAttr):
        return False
    try:
        ir.DenseResourceElementsAttr(attr)
    except ValueError:
        return False
    return True
