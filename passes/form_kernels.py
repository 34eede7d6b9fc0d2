"""``form-kernels``: turn each annotated sparse matmul into a ``sparsile.matmul`` kernel op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import NAME_ATTR, constant_array
from ..dialects.encodings import pattern_of_encoding
from ..dialects.patterns import DENSE, Pattern
from ..mlir import ir
from . import sparsity_attr
from .conv_forming import conv_problem, form_conv_kernel
from .detect_sparsity import weight_record
from .ir_build import constant, flatten_rows, transpose, unflatten_rows
from .kernel_ops import create
from .pass_base import Pass
from .weight_stats import measure
from .weights import WeightUse, defining_op, float_constant, weight_uses


@dataclass(frozen=True)
class FormKernels(Pass):
    """Replace sparse-weight contractions by kernel ops holding the weight as ``dense`` storage.

    Matches every contraction whose 2-D weight ``W`` carries an encoding from
    ``detect-sparsity`` and whose accumulator is a zero fill, in whatever layout its
    indexing maps give it: ``linalg.matmul(x, transpose(W))`` as the importer writes a
    linear layer, ``[in, out]`` weights (Hugging Face ``Conv1D``), ``linalg.matmul``
    with explicit maps, ``linalg.batch_matmul`` and ``linalg.generic`` contractions of
    a broadcast weight. Produces a ``sparsile.matmul`` whose storage is the weight as
    ``[out, in]`` (the constant itself, or a transposed copy of an ``[in, out]`` one),
    format ``dense``, the encoding's ``pattern`` and an empty epilogue; its input is the
    activation as ``[rows, in]`` (transposed and collapsed where the layout needs it)
    and its result is reshaped and transposed back to the contraction's. A sparse
    convolution filter becomes a ``sparsile.conv`` on the convolution's NCHW input
    (its bias taken from the accumulator), or, for a 1x1 NHWC convolution, a
    ``sparsile.matmul`` over the positions (:mod:`sparsile.passes.conv_forming`); the
    storage is the filter as ``[F, C*KH*KW]``. Packing is
    left to ``schedule``, which chooses the storage. Sparse weights it cannot turn into
    a kernel (an accumulator that is not zero, an empty weight, a contraction that is
    not ``[rows, in] x [out, in]^T`` in any layout) fall back to
    dense: the convert is removed and the reason recorded in ``sparsile.sparsity``. A
    weight that other ops also read (a tied embedding) keeps its dense constant for
    them; its record says so (``tied_dense_bytes``) and the report counts those bytes.
    With ``all-weights`` (set when the compile quantizes) dense weights of contractions
    become kernels too, of pattern ``dense``, so that ``schedule`` stores every weight; one
    that cannot stays as it was, with the reason recorded.
    """

    name = "form-kernels"
    all_weights: bool = False

    def run(self, op: ir.Operation, pass_: Any) -> None:
        by_convert: dict[ir.Operation, list[WeightUse]] = {}
        dense: dict[ir.Operation, list[WeightUse]] = {}
        uses = weight_uses(op)
        for use in uses:
            if use.convert is not None:
                by_convert.setdefault(use.convert, []).append(use)
            elif self.all_weights and use.kind == "matmul":
                dense.setdefault(use.constant, []).append(use)
        for uses in dense.values():
            reason = next((r for r in map(_unsupported, uses) if r is not None), None)
            if reason is not None:
                sparsity_attr.update(uses[0].constant, fallback=f"not stored by a kernel: {reason}")
                continue
            _record_tied(uses)
            storage = _out_in_storage(uses[0])
            for use in uses:
                _form(use, storage, DENSE)
            sparsity_attr.remove(uses[0].constant)
        for uses in by_convert.values():
            # A weight shared by several consumers becomes kernels only if all of them can.
            reason = next((r for r in map(_unsupported, uses) if r is not None), None)
            if reason is not None:
                _fall_back(uses[0], reason)
                continue
            _record_tied(uses)
            storage = _out_in_storage(uses[0])
            for use in uses:
                _form(use, storage)
            # The kernels carry the record now; a constant left with it would be reported twice.
            sparsity_attr.remove(uses[0].constant)
        _records_to_consumers(weight_uses(op))


def _records_to_consumers(uses: list[WeightUse]) -> None:
    """Move the records of weights that stay dense onto the op consuming them.

    Constants are merged (equal weights) and folded (a transposed splat) by
    canonicalization, so a record on a constant can vanish or stand for two layers;
    the consuming matmul or convolution keeps its record whatever happens to its weight.
    """
    for use in uses:
        record = sparsity_attr.read(use.constant)
        if record is not None:
            sparsity_attr.write(use.consumer, record)
            sparsity_attr.remove(use.constant)


def _record_tied(uses: list[WeightUse]) -> None:
    """Record the bytes of a weight that other ops keep reading dense (a tied embedding's gather).

    The kernel's storage replaces the weight for the contraction only: the dense constant
    stays in the artifact for its other readers, and the report counts it. The kernels'
    own readers are the convert of a sparse weight, or each use's first op for a dense one.
    """
    own = [use.convert if use.convert is not None else use.first_user for use in uses]
    readers = [u.owner for u in uses[0].constant.results[0].uses]
    if any(all((r.operation if hasattr(r, "operation") else r) != o for o in own) for r in readers):
        array = constant_array(uses[0].constant)
        if array is not None:
            sparsity_attr.update(uses[0].constant, tied_dense_bytes=int(array.nbytes))


def _out_in_storage(use: WeightUse) -> ir.Value:
    """The weight as ``[out, in]``: the constant itself, or a transposed (a conv filter's: reshaped) copy named like it."""
    if use.reduction_dim == 1 and use.kind == "matmul":
        return use.constant.results[0]
    weight = use.matrix()
    assert weight is not None  # _unsupported checked it
    with ir.InsertionPoint.after(use.constant), use.constant.location:
        copy = constant(np.ascontiguousarray(weight))
    if NAME_ATTR in use.constant.attributes:
        copy.owner.attributes[NAME_ATTR] = use.constant.attributes[NAME_ATTR]
    return copy


def _form(use: WeightUse, storage: ir.Value, pattern: Pattern | None = None) -> None:
    """A kernel for ``use``; ``pattern`` is its convert's encoding's unless given (dense weights have no convert)."""
    if pattern is None:
        assert use.convert is not None  # the caller grouped sparse uses by their convert
        pattern = pattern_of_encoding(ir.RankedTensorType(use.convert.results[0].type).encoding)
    weight = use.matrix()
    assert weight is not None  # _unsupported checked it
    if sparsity_attr.read(use.constant) is None:  # annotated by hand, not by detect-sparsity
        sparsity_attr.write(use.constant, weight_record(use, measure(weight, use.channel_group), pattern, str(pattern), "declared"))
    record = sparsity_attr.read(use.constant) or {}
    if use.kind == "conv":
        form_conv_kernel(use, storage, pattern, record)
        return
    assert use.contraction is not None  # _unsupported checked it
    contraction = use.contraction
    consumer = use.consumer
    element = ir.RankedTensorType(consumer.results[0].type).element_type
    with ir.InsertionPoint(consumer), consumer.location:
        activation = _permuted(contraction.activation, contraction.activation_permutation)
        x = flatten_rows(activation)
        kernel = create(
            "dense",
            {"values": storage},
            input=x,
            result_type=ir.RankedTensorType.get([_rows_size(contraction.rows), int(weight.shape[0])], element),
            shape=(int(weight.shape[0]), int(weight.shape[1])),
            pattern=pattern,
            layer=str(record.get("layer", "")),
            record=record,
        )
        y = _permuted(unflatten_rows(kernel.results[0], contraction.row_shape, like=activation), contraction.result_permutation)
    consumer.results[0].replace_all_uses_with(y)
    consumer.erase()


def _rows_size(rows: int) -> int:
    """A kernel's row count as a shape size (dynamic when the contraction's rows are)."""
    return ir.ShapedType.get_dynamic_size() if rows < 0 else rows


def _permuted(value: ir.Value, permutation: list[int]) -> ir.Value:
    return value if permutation == sorted(permutation) else transpose(value, permutation)


def _unsupported(use: WeightUse) -> str | None:
    if use.contraction is None:
        return conv_problem(use)
    if use.contraction.problem is not None:
        return use.contraction.problem
    result = ir.RankedTensorType(use.consumer.results[0].type).element_type
    if not isinstance(result, ir.F32Type):
        return f"the matmul accumulates in {result}; the kernels accumulate in f32"
    init = defining_op(use.contraction.init)
    if init is None or init.name != "linalg.fill" or float_constant(init.operands[0]) != 0.0:
        return "the matmul accumulates into a non-zero tensor"
    weight = use.matrix()
    if weight is None or not np.any(weight):
        return "the weight is all zeros"
    return None


def _fall_back(use: WeightUse, reason: str) -> None:
    convert = use.convert
    assert convert is not None
    pattern = pattern_of_encoding(ir.RankedTensorType(convert.results[0].type).encoding)
    convert.results[0].replace_all_uses_with(use.constant.results[0])
    convert.erase()
    weight = use.matrix()
    if sparsity_attr.read(use.constant) is None and weight is not None:
        sparsity_attr.write(use.constant, weight_record(use, measure(weight, use.channel_group), pattern, str(pattern), "declared"))
    stored = int(np.prod(ir.RankedTensorType(use.constant.results[0].type).shape))
    element_bytes = _element_bytes(use.constant.results[0].type)
    sparsity_attr.update(use.constant, format="dense", fallback=reason, stored_bytes=stored * element_bytes)


def _element_bytes(t: ir.Type) -> int:
    element = ir.RankedTensorType(t).element_type
    width = getattr(element, "width", None)
    return max(1, (width or 32) // 8)
