"""``form-kernels``: turn each annotated sparse matmul into a ``sparsile.*`` kernel op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dialects.encodings import pattern_of_encoding
from ..dialects.formats import Format, Pattern
from ..dialects.packing import pack
from ..dialects.sparsile_dialect import BsrMatmulOp, ChannelMatmulOp, CsrMatmulOp, NmMatmulOp
from ..mlir import ir
from . import sparsity_attr
from .ir_build import constant
from .kernel_weights import PACKED_OPERANDS
from .detect_sparsity import weight_record
from .pass_base import Pass
from .pattern_detection import measure
from .weights import WeightUse, defining_op, float_constant, weight_uses

_OP_CLASSES = {Format.CSR: CsrMatmulOp, Format.BSR: BsrMatmulOp, Format.NM: NmMatmulOp, Format.CHANNELS: ChannelMatmulOp}
_OPERAND_NAMES = {fmt: names for fmt, names in PACKED_OPERANDS.values()}


@dataclass(frozen=True)
class FormKernels(Pass):
    """Replace sparse-weight matmuls by kernel ops with packed weights.

    Matches ``linalg.matmul(x, transpose(convert(W)))`` whose accumulator is a
    zero fill and whose weight ``W`` carries an encoding from ``detect-sparsity``;
    produces the kernel op of the encoding's format (``sparsile.csr_matmul``,
    ``bsr_matmul``, ``nm_matmul``, ``channel_matmul``) with the weight packed into
    constants and an empty epilogue. Sparse weights it cannot turn into a kernel
    (convolutions, an accumulator that is not zero, an empty weight) fall back to
    dense: the convert is removed and the reason recorded in ``sparsile.sparsity``.
    """

    name = "form-kernels"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        by_convert: dict[ir.Operation, list[WeightUse]] = {}
        for use in weight_uses(op):
            if use.convert is not None:
                by_convert.setdefault(use.convert, []).append(use)
        for uses in by_convert.values():
            # A weight shared by several consumers becomes kernels only if all of them can.
            reason = next((r for r in map(_unsupported, uses) if r is not None), None)
            if reason is not None:
                _fall_back(uses[0], reason)
                continue
            for use in uses:
                self._form(use)

    def _form(self, use: WeightUse) -> None:
        pattern = pattern_of_encoding(ir.RankedTensorType(use.convert.results[0].type).encoding)
        weight = use.matrix()
        assert weight is not None  # _unsupported checked it
        matmul = use.consumer
        if sparsity_attr.read(use.constant) is None:  # annotated by hand, not by detect-sparsity
            sparsity_attr.write(use.constant, weight_record(use, measure(weight), pattern, str(pattern), "declared"))
        record = sparsity_attr.read(use.constant) or {}
        with ir.InsertionPoint(matmul), matmul.location:
            kernel = make_kernel(pattern, np.asarray(weight), matmul.operands[0], matmul.results[0].type, record)
        matmul.results[0].replace_all_uses_with(kernel.results[0])
        matmul.erase()


def make_kernel(
    pattern: Pattern,
    weight: np.ndarray,
    input: ir.Value,
    result_type: ir.Type,
    record: dict[str, Any],
    **epilogue: Any,
) -> ir.Operation:
    """A kernel op of ``pattern`` holding ``weight`` (``[out, in]``), at the current insertion point.

    ``record`` is the weight's ``sparsile.sparsity`` record (updated with the packing's
    size); ``epilogue`` may give ``epilogue``, ``scale``, ``bias`` and ``residual``.
    """
    names = _OPERAND_NAMES[pattern.format]
    packed = pack(weight, pattern)
    record = {
        **record,
        "format": str(pattern),
        "stored_values": int(packed["values"].size),
        "index_bytes": int(sum(packed[name].nbytes for name in names[1:])),
    }
    i64 = ir.IntegerType.get_signless(64)
    attrs: dict[str, Any] = {
        "out_features": ir.IntegerAttr.get(i64, weight.shape[0]),
        "in_features": ir.IntegerAttr.get(i64, weight.shape[1]),
        "epilogue": epilogue.pop("epilogue", ir.StringAttr.get("none")),
        "scale": epilogue.pop("scale", ir.FloatAttr.get(ir.F32Type.get(), 1.0)),
        "layer": ir.StringAttr.get(str(record.get("layer", ""))),
    }
    if pattern.format is Format.BSR:
        attrs["block"] = ir.IntegerAttr.get(i64, pattern.block)
    elif pattern.format is Format.NM:
        attrs["n"] = ir.IntegerAttr.get(i64, pattern.n)
        attrs["m"] = ir.IntegerAttr.get(i64, pattern.m)
    operands = {name: constant(packed[name]) for name in names}
    kernel = _OP_CLASSES[pattern.format](input=input, **operands, **attrs, out=result_type, **epilogue).operation
    sparsity_attr.write(kernel, record)
    return kernel


def _unsupported(use: WeightUse) -> str | None:
    if use.kind == "conv":
        return "sparse convolution kernels are not implemented"
    if use.transpose is None:
        return "only torch-layout [out, in] weights become kernels"
    init = defining_op(use.consumer.operands[2])
    if init is None or init.name != "linalg.fill" or float_constant(init.operands[0]) != 0.0:
        return "the matmul accumulates into a non-zero tensor"
    weight = use.matrix()
    if weight is None or not np.any(weight):
        return "the weight is all zeros"
    return None


def _fall_back(use: WeightUse, reason: str) -> None:
    convert = use.convert
    pattern = pattern_of_encoding(ir.RankedTensorType(convert.results[0].type).encoding)
    convert.results[0].replace_all_uses_with(use.constant.results[0])
    convert.erase()
    weight = use.matrix()
    if sparsity_attr.read(use.constant) is None and weight is not None:
        sparsity_attr.write(use.constant, weight_record(use, measure(weight, use.channel_group), pattern, str(pattern), "declared"))
    stored = int(np.prod(ir.RankedTensorType(use.constant.results[0].type).shape))
    sparsity_attr.update(use.constant, format="dense", fallback=reason, stored_values=stored, index_bytes=0)
