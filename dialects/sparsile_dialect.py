"""The ``sparsile`` dialect: one op per sparse kernel, the contract with every backend.

Each op computes ``out = act(input @ W^T * scale + bias) + residual`` for a weight
``W`` of shape ``[out_features, in_features]`` held in packed operands:

- ``sparsile.csr_matmul``: ``values[nnz]``, ``col_indices[nnz]`` (i32), ``row_offsets[out+1]`` (i32)
- ``sparsile.bsr_matmul``: ``values[nb, B, B]``, ``block_cols[nb]`` (i32), ``block_row_offsets[out/B+1]`` (i32)
- ``sparsile.nm_matmul``: ``values[out, in*n/m]``, ``positions[out, in*n/m]`` (i8, index inside each group of m)
- ``sparsile.channel_matmul``: ``values[rows, cols]`` (the kept sub-matrix), ``rows[rows]``, ``cols[cols]`` (i32)

``input`` is ``[..., in_features]`` and the result ``[..., out_features]``. ``bias``
(``[out_features]``) and ``residual`` (shaped like the result) are optional;
``epilogue`` is ``none``, ``relu``, ``gelu``, ``gelu_tanh`` or ``silu``. Ops are
defined in Python (IRDL) and print in generic form; the verifiers below reject
inconsistent packings with a message.
"""

# No "from __future__ import annotations": the ext dialect builder reads real type hints.
from typing import Any

from torch_mlir.dialects.ext import Dialect, Operand, Pure, Result, result

from ..mlir import ir

EPILOGUES = ("none", "relu", "gelu", "gelu_tanh", "silu")


class Sparsile(Dialect, name="sparsile"):
    """Sparse kernels with packed operands and fused epilogues."""


def _shape(value: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _element(value: ir.Value) -> str:
    return str(ir.RankedTensorType(value.type).element_type)


def _int(op: Any, name: str) -> int:
    return ir.IntegerAttr(op.attributes[name]).value


def _fail(op: Any, message: str) -> bool:
    op.location.emit_error(f"'{op.OPERATION_NAME}' {message}")
    return False


def _check_common(op: Any, index_operands: tuple[str, ...]) -> bool:
    """Shapes of input, result, bias and residual, the epilogue, and index element types."""
    out_features, in_features = _int(op, "out_features"), _int(op, "in_features")
    inp, res = _shape(op.input), _shape(op.out)
    if not inp or inp[-1] != in_features:
        return _fail(op, f"input {inp} must end in in_features = {in_features}")
    if res != inp[:-1] + [out_features]:
        return _fail(op, f"result {res} must be {inp[:-1] + [out_features]}")
    epilogue = ir.StringAttr(op.attributes["epilogue"]).value
    if epilogue not in EPILOGUES:
        return _fail(op, f"has unknown epilogue '{epilogue}'; expected one of {', '.join(EPILOGUES)}")
    if op.bias is not None and _shape(op.bias) != [out_features]:
        return _fail(op, f"bias {_shape(op.bias)} must be [{out_features}]")
    if op.residual is not None and _shape(op.residual) != res:
        return _fail(op, f"residual {_shape(op.residual)} must be {res}")
    for name in index_operands:
        element = _element(getattr(op, name))
        if element not in ("i8", "i32"):
            return _fail(op, f"{name} must hold i8 or i32 indices, not {element}")
    return True


class CsrMatmulOp(Sparsile.Operation, name="csr_matmul", traits=[Pure]):
    """``input @ W^T`` with W in CSR: values, column indices, row offsets."""

    input: Operand[ir.RankedTensorType]
    values: Operand[ir.RankedTensorType]
    col_indices: Operand[ir.RankedTensorType]
    row_offsets: Operand[ir.RankedTensorType]
    out_features: ir.IntegerAttr
    in_features: ir.IntegerAttr
    epilogue: ir.StringAttr
    scale: ir.FloatAttr
    layer: ir.StringAttr
    out: Result[ir.RankedTensorType] = result()
    bias: Operand[ir.RankedTensorType] | None = None
    residual: Operand[ir.RankedTensorType] | None = None

    def verify_invariants(self) -> bool:
        if not _check_common(self, ("col_indices", "row_offsets")):
            return False
        nnz = _shape(self.values)
        if len(nnz) != 1 or _shape(self.col_indices) != nnz:
            return _fail(self, f"values {nnz} and col_indices {_shape(self.col_indices)} must be equal 1-D shapes")
        if _shape(self.row_offsets) != [_int(self, "out_features") + 1]:
            return _fail(self, f"row_offsets {_shape(self.row_offsets)} must be [out_features + 1]")
        return True


class BsrMatmulOp(Sparsile.Operation, name="bsr_matmul", traits=[Pure]):
    """``input @ W^T`` with W in BSR: block values, block columns, block-row offsets."""

    input: Operand[ir.RankedTensorType]
    values: Operand[ir.RankedTensorType]
    block_cols: Operand[ir.RankedTensorType]
    block_row_offsets: Operand[ir.RankedTensorType]
    out_features: ir.IntegerAttr
    in_features: ir.IntegerAttr
    block: ir.IntegerAttr
    epilogue: ir.StringAttr
    scale: ir.FloatAttr
    layer: ir.StringAttr
    out: Result[ir.RankedTensorType] = result()
    bias: Operand[ir.RankedTensorType] | None = None
    residual: Operand[ir.RankedTensorType] | None = None

    def verify_invariants(self) -> bool:
        if not _check_common(self, ("block_cols", "block_row_offsets")):
            return False
        b = _int(self, "block")
        rows, cols = _int(self, "out_features"), _int(self, "in_features")
        if b <= 0 or rows % b or cols % b:
            return _fail(self, f"block {b} must divide the weight shape [{rows}, {cols}]")
        values = _shape(self.values)
        if len(values) != 3 or values[1:] != [b, b] or _shape(self.block_cols) != values[:1]:
            return _fail(self, f"values {values} must be [nb, {b}, {b}] with block_cols [nb]")
        if _shape(self.block_row_offsets) != [rows // b + 1]:
            return _fail(self, f"block_row_offsets {_shape(self.block_row_offsets)} must be [{rows // b + 1}]")
        return True


class NmMatmulOp(Sparsile.Operation, name="nm_matmul", traits=[Pure]):
    """``input @ W^T`` with W N:M-sparse along in_features: kept values and their positions."""

    input: Operand[ir.RankedTensorType]
    values: Operand[ir.RankedTensorType]
    positions: Operand[ir.RankedTensorType]
    out_features: ir.IntegerAttr
    in_features: ir.IntegerAttr
    n: ir.IntegerAttr
    m: ir.IntegerAttr
    epilogue: ir.StringAttr
    scale: ir.FloatAttr
    layer: ir.StringAttr
    out: Result[ir.RankedTensorType] = result()
    bias: Operand[ir.RankedTensorType] | None = None
    residual: Operand[ir.RankedTensorType] | None = None

    def verify_invariants(self) -> bool:
        if not _check_common(self, ("positions",)):
            return False
        n, m = _int(self, "n"), _int(self, "m")
        rows, cols = _int(self, "out_features"), _int(self, "in_features")
        if not 0 < n < m or cols % m:
            return _fail(self, f"{n}:{m} needs 0 < n < m and m dividing in_features = {cols}")
        expected = [rows, cols // m * n]
        if _shape(self.values) != expected or _shape(self.positions) != expected:
            return _fail(self, f"values {_shape(self.values)} and positions {_shape(self.positions)} must be {expected}")
        return True


class ChannelMatmulOp(Sparsile.Operation, name="channel_matmul", traits=[Pure]):
    """``input @ W^T`` where W is zero outside the kept rows x kept input columns."""

    input: Operand[ir.RankedTensorType]
    values: Operand[ir.RankedTensorType]
    rows: Operand[ir.RankedTensorType]
    cols: Operand[ir.RankedTensorType]
    out_features: ir.IntegerAttr
    in_features: ir.IntegerAttr
    epilogue: ir.StringAttr
    scale: ir.FloatAttr
    layer: ir.StringAttr
    out: Result[ir.RankedTensorType] = result()
    bias: Operand[ir.RankedTensorType] | None = None
    residual: Operand[ir.RankedTensorType] | None = None

    def verify_invariants(self) -> bool:
        if not _check_common(self, ("rows", "cols")):
            return False
        values = _shape(self.values)
        if len(values) != 2 or _shape(self.rows) != values[:1] or _shape(self.cols) != values[1:]:
            return _fail(self, f"values {values} must be [len(rows), len(cols)], got rows {_shape(self.rows)}, cols {_shape(self.cols)}")
        return True


KERNEL_OPS = (CsrMatmulOp, BsrMatmulOp, NmMatmulOp, ChannelMatmulOp)
KERNEL_OP_NAMES = tuple(f"sparsile.{op.OPERATION_NAME.split('.', 1)[-1]}" for op in KERNEL_OPS)
