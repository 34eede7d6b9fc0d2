"""The ``sparsile`` dialect: one kernel op whose operands are the storage its code generators read.

``sparsile.matmul`` computes ``out = act(input @ W^T * scale + bias) + residual`` for a
weight ``W`` of shape ``[out_features, in_features]``. ``W`` is held in the op's
storage operands (``values``, then up to four more, ``aux0`` to ``aux3``), laid out as
the storage format named by ``format`` defines them (:mod:`sparsile.passes.formats`), with that format's layout parameters in
``params`` (block size, chunk width, index bits...) and the kernel's tile sizes in
``tiles``. ``pattern`` is the sparsity pattern the weight has (``csr``, ``bsr16``,
``2:4``, ``channels``, ``dense``), which the storage need not mirror: a 2:4 weight may be
stored as chunked CSR. ``form-kernels`` creates the op with ``dense`` storage and
``schedule`` writes the storage and tiles every backend reads.

``input`` is ``[..., in_features]`` and the result ``[..., out_features]``. ``bias``
(``[out_features]``) and ``residual`` (shaped like the result) are optional;
``epilogue`` is ``none``, ``relu``, ``gelu``, ``gelu_tanh`` or ``silu``. The op is
defined in Python (IRDL) and prints in generic form; its verifier checks the shapes
and asks the storage format to check the storage.
"""

# No "from __future__ import annotations": the ext dialect builder reads real type hints.
from typing import Any

from torch_mlir.dialects.ext import Dialect, Operand, Pure, Result, attribute, result

from ..mlir import ir

EPILOGUES = ("none", "relu", "gelu", "gelu_tanh", "silu")
KERNEL_OP_NAME = "sparsile.matmul"


# The ext builder creates the dialect and its Operation base at class creation; mypy cannot see that.
class Sparsile(Dialect, name="sparsile"):  # type: ignore[call-arg]
    """Sparse kernels with format-defined storage and fused epilogues."""


def _shape(value: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _fail(op: Any, message: str) -> bool:
    op.location.emit_error(f"'{KERNEL_OP_NAME}' {message}")
    return False


AUX_SLOTS = ("aux0", "aux1", "aux2", "aux3")


def storage_operands(op: Any) -> list[ir.Value]:
    """The storage operands of a ``sparsile.matmul`` view: ``values``, then the filled aux slots."""
    values = [op.values]
    for slot in AUX_SLOTS:
        value = getattr(op, slot)
        if value is None:
            break
        values.append(value)
    return values


class MatmulOp(Sparsile.Operation, name="matmul", traits=[Pure]):  # type: ignore[call-arg, name-defined]
    """``act(input @ W^T * scale + bias) + residual`` with W in the storage of ``format``."""

    input: Operand[ir.RankedTensorType]
    values: Operand[ir.RankedTensorType]
    format: ir.StringAttr
    pattern: ir.StringAttr
    out_features: ir.IntegerAttr
    in_features: ir.IntegerAttr
    epilogue: ir.StringAttr
    scale: ir.FloatAttr
    layer: ir.StringAttr
    out: Result[ir.RankedTensorType] = result()
    # Storage arrays after the values (indices, offsets, positions...), as the format names them. One
    # operand each rather than a variadic one: IRDL gives a variadic group a single type constraint.
    aux0: Operand[ir.RankedTensorType] | None = None
    aux1: Operand[ir.RankedTensorType] | None = None
    aux2: Operand[ir.RankedTensorType] | None = None
    aux3: Operand[ir.RankedTensorType] | None = None
    bias: Operand[ir.RankedTensorType] | None = None
    residual: Operand[ir.RankedTensorType] | None = None
    # An empty DictAttr is falsy, which the op builder takes for "missing": the default builds one.
    params: ir.DictAttr = attribute(default_factory=lambda: ir.DictAttr.get({}))
    tiles: ir.DictAttr = attribute(default_factory=lambda: ir.DictAttr.get({}))

    def verify_invariants(self) -> bool:
        out_features = ir.IntegerAttr(self.attributes["out_features"]).value
        in_features = ir.IntegerAttr(self.attributes["in_features"]).value
        inp, res = _shape(self.input), _shape(self.out)
        if not inp or inp[-1] != in_features:
            return _fail(self, f"input {inp} must end in in_features = {in_features}")
        if res != inp[:-1] + [out_features]:
            return _fail(self, f"result {res} must be {inp[:-1] + [out_features]}")
        epilogue = ir.StringAttr(self.attributes["epilogue"]).value
        if epilogue not in EPILOGUES:
            return _fail(self, f"has unknown epilogue '{epilogue}'; expected one of {', '.join(EPILOGUES)}")
        if self.bias is not None and _shape(self.bias) != [out_features]:
            return _fail(self, f"bias {_shape(self.bias)} must be [{out_features}]")
        if self.residual is not None and _shape(self.residual) != res:
            return _fail(self, f"residual {_shape(self.residual)} must be {res}")
        aux = [self.aux0, self.aux1, self.aux2, self.aux3]
        if any(a is None and b is not None for a, b in zip(aux, aux[1:])):
            return _fail(self, "fills its storage operands aux0..aux3 in order, without gaps")
        from ..passes.kernel_ops import storage_problem  # the formats know their storage

        problem = storage_problem(self.operation)
        return _fail(self, problem) if problem else True
