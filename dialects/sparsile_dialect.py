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

``sparsile.conv`` is the same kernel for a 2-D convolution in NCHW layout: ``input`` is
``[N, C, H, W]`` (already padded), the weight is the filter ``[F, C/G, KH, KW]`` seen as the
``[F, C/G*KH*KW]`` matrix its storage holds (``out_features = F``, ``in_features =
C/G*KH*KW``), ``window``, ``strides`` and ``dilations`` are ``[KH, KW]``, ``[SH, SW]`` and
``[DH, DW]``, ``groups`` is ``G`` (each filter reads the input channels of its group), the
result is ``[N, F, OH, OW]``, and the epilogue's bias runs along the channels (dimension 1).
"""

# No "from __future__ import annotations": the ext dialect builder reads real type hints.
from typing import Any

from torch_mlir.dialects.ext import Dialect, Operand, Pure, Result, attribute, result

from ..mlir import ir

EPILOGUES = ("none", "relu", "gelu", "gelu_tanh", "silu")
KERNEL_OP_NAME = "sparsile.matmul"
CONV_OP_NAME = "sparsile.conv"


# The ext builder creates the dialect and its Operation base at class creation; mypy cannot see that.
class Sparsile(Dialect, name="sparsile"):  # type: ignore[call-arg]
    """Sparse kernels with format-defined storage and fused epilogues."""


def _shape(value: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def _fail(op: Any, message: str) -> bool:
    op.location.emit_error(f"'{op.operation.name}' {message}")
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
        return _verify_kernel(self, out_features, res)


def _verify_kernel(op: Any, out_features: int, result_shape: list[int]) -> bool:
    """The checks a matmul and a conv kernel share: epilogue, bias, residual, storage operands."""
    epilogue = ir.StringAttr(op.attributes["epilogue"]).value
    if epilogue not in EPILOGUES:
        return _fail(op, f"has unknown epilogue '{epilogue}'; expected one of {', '.join(EPILOGUES)}")
    if op.bias is not None and _shape(op.bias) != [out_features]:
        return _fail(op, f"bias {_shape(op.bias)} must be [{out_features}]")
    if op.residual is not None and _shape(op.residual) != result_shape:
        return _fail(op, f"residual {_shape(op.residual)} must be {result_shape}")
    aux = [op.aux0, op.aux1, op.aux2, op.aux3]
    if any(a is None and b is not None for a, b in zip(aux, aux[1:])):
        return _fail(op, "fills its storage operands aux0..aux3 in order, without gaps")
    from ..passes.kernel_ops import storage_problem  # the formats know their storage

    problem = storage_problem(op.operation)
    return _fail(op, problem) if problem else True


def int_pair(attr: ir.Attribute) -> tuple[int, int] | None:
    """The two integers of an ``[a, b]`` array attribute, or None for anything else."""
    items = list(ir.ArrayAttr(attr)) if isinstance(attr, ir.ArrayAttr) else []
    if len(items) != 2 or not all(isinstance(i, ir.IntegerAttr) for i in items):
        return None
    return ir.IntegerAttr(items[0]).value, ir.IntegerAttr(items[1]).value


def conv_output_size(size: int, window: int, stride: int, dilation: int) -> int:
    """Output positions along one spatial axis of a convolution over ``size`` (already padded) input positions."""
    return (size - dilation * (window - 1) - 1) // stride + 1


class ConvOp(Sparsile.Operation, name="conv", traits=[Pure]):  # type: ignore[call-arg, name-defined]
    """``act(conv2d(input, W) * scale + bias) + residual`` in NCHW, with W in the storage of ``format``."""

    input: Operand[ir.RankedTensorType]
    values: Operand[ir.RankedTensorType]
    format: ir.StringAttr
    pattern: ir.StringAttr
    out_features: ir.IntegerAttr
    in_features: ir.IntegerAttr
    epilogue: ir.StringAttr
    scale: ir.FloatAttr
    layer: ir.StringAttr
    window: ir.ArrayAttr
    strides: ir.ArrayAttr
    dilations: ir.ArrayAttr
    groups: ir.IntegerAttr
    out: Result[ir.RankedTensorType] = result()
    aux0: Operand[ir.RankedTensorType] | None = None
    aux1: Operand[ir.RankedTensorType] | None = None
    aux2: Operand[ir.RankedTensorType] | None = None
    aux3: Operand[ir.RankedTensorType] | None = None
    bias: Operand[ir.RankedTensorType] | None = None
    residual: Operand[ir.RankedTensorType] | None = None
    params: ir.DictAttr = attribute(default_factory=lambda: ir.DictAttr.get({}))
    tiles: ir.DictAttr = attribute(default_factory=lambda: ir.DictAttr.get({}))

    def verify_invariants(self) -> bool:
        out_features = ir.IntegerAttr(self.attributes["out_features"]).value
        in_features = ir.IntegerAttr(self.attributes["in_features"]).value
        pairs = [int_pair(self.attributes[name]) for name in ("window", "strides", "dilations")]
        if any(p is None or min(p) < 1 for p in pairs):
            return _fail(self, "needs window, strides and dilations of two positive integers each")
        (kh, kw), (sh, sw), (dh, dw) = pairs  # type: ignore[misc]
        groups = ir.IntegerAttr(self.attributes["groups"]).value
        if groups < 1 or out_features % groups:
            return _fail(self, f"has {groups} groups, which must divide out_features = {out_features}")
        inp, res = _shape(self.input), _shape(self.out)
        if len(inp) != 4 or inp[1] * kh * kw != in_features * groups:
            return _fail(self, f"input {inp} must be [N, C, H, W] with C * {kh} * {kw} = in_features * groups = {in_features * groups}")
        expected = [inp[0], out_features, conv_output_size(inp[2], kh, sh, dh), conv_output_size(inp[3], kw, sw, dw)]
        if min(expected[2:]) < 1 or res != expected:
            return _fail(self, f"result {res} must be {expected}")
        return _verify_kernel(self, out_features, res)
