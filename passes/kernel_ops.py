"""Reading, creating and rebuilding ``sparsile.matmul`` and ``sparsile.conv`` kernel ops.

:class:`Kernel` is a read-only view of one op: its storage operands by the names
its format gives them, the storage as numpy arrays when it is constant, its
parameters, tiles, pattern and epilogue, and a convolution's geometry. :func:`create`
builds a kernel op and :func:`rebuild` replaces one with some fields changed (optional
operands change the operand segments, so ops are rebuilt rather than edited).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..constants import constant_array
from ..dialects.patterns import Pattern
from ..dialects.sparsile_dialect import AUX_SLOTS, CONV_OP_NAME, KERNEL_OP_NAME, ConvOp, MatmulOp, int_pair, storage_operands
from ..mlir import ir
from . import sparsity_attr
from .conv_geometry import ConvGeometry
from .weights import defining_op

if TYPE_CHECKING:
    from .formats.base import StorageFormat

Scalar = int | float | str | bool


def is_kernel(op: ir.Operation) -> bool:
    """Whether ``op`` is a kernel op (``sparsile.matmul`` or ``sparsile.conv``)."""
    return op.name in (KERNEL_OP_NAME, CONV_OP_NAME)


def dict_attr(values: Mapping[str, Scalar]) -> ir.DictAttr:
    """A DictAttr of plain values (the op's ``params`` and ``tiles``)."""
    return ir.DictAttr.get({k: sparsity_attr.to_attr(v) for k, v in values.items()})


def _plain(attr: ir.Attribute) -> dict[str, Any]:
    d = ir.DictAttr(attr)
    return {d[i].name: sparsity_attr.from_attr(d[i].attr) for i in range(len(d))}


@dataclass(frozen=True)
class Kernel:
    """A view of a ``sparsile.matmul`` op."""

    op: ir.Operation

    def _attr(self, name: str) -> ir.Attribute:
        return self.op.attributes[name]

    @property
    def format_name(self) -> str:
        return ir.StringAttr(self._attr("format")).value

    @cached_property
    def format(self) -> StorageFormat:
        from .formats import get_format

        return get_format(self.format_name)

    @cached_property
    def params(self) -> dict[str, Any]:
        return _plain(self._attr("params"))

    @cached_property
    def tiles(self) -> dict[str, Any]:
        return _plain(self._attr("tiles"))

    @property
    def pattern(self) -> Pattern:
        return Pattern.parse(ir.StringAttr(self._attr("pattern")).value)

    @property
    def out_features(self) -> int:
        return ir.IntegerAttr(self._attr("out_features")).value

    @property
    def in_features(self) -> int:
        return ir.IntegerAttr(self._attr("in_features")).value

    @property
    def shape(self) -> tuple[int, int]:
        return self.out_features, self.in_features

    @property
    def layer(self) -> str:
        return ir.StringAttr(self._attr("layer")).value

    @property
    def epilogue(self) -> str:
        return ir.StringAttr(self._attr("epilogue")).value

    @property
    def scale(self) -> float:
        return ir.FloatAttr(self._attr("scale")).value

    @property
    def view(self) -> MatmulOp | ConvOp:
        return self.op.opview

    @cached_property
    def conv(self) -> ConvGeometry | None:
        """The geometry of a ``sparsile.conv`` (None for a matmul)."""
        if self.op.name != CONV_OP_NAME:
            return None
        pairs = [int_pair(self._attr(name)) for name in ("window", "strides", "dilations")]
        window, strides, dilations = (p if p is not None else (1, 1) for p in pairs)  # checked by the verifier
        return ConvGeometry(window, strides, dilations, ir.IntegerAttr(self._attr("groups")).value)

    @property
    def input(self) -> ir.Value:
        return self.view.input

    @property
    def bias(self) -> ir.Value | None:
        return self.view.bias

    @property
    def residual(self) -> ir.Value | None:
        return self.view.residual

    @property
    def storage_operands(self) -> list[ir.Value]:
        """``values`` and the filled aux operands, in order."""
        return storage_operands(self.view)

    @property
    def result_type(self) -> ir.RankedTensorType:
        return ir.RankedTensorType(self.op.results[0].type)

    @property
    def rows(self) -> int:
        """Input rows per call: the product of the input's leading dimensions (output positions
        ``N*OH*OW`` of a convolution); -1 when they are dynamic."""
        if self.conv is not None:
            n, _, oh, ow = self.result_type.shape
            return int(n * oh * ow)
        leading = ir.RankedTensorType(self.input.type).shape[:-1]
        return -1 if any(ir.ShapedType.is_dynamic_size(d) for d in leading) else int(np.prod(leading))

    def row_range(self) -> tuple[int, int] | None:
        """``(min, max)`` input rows per call (see :mod:`sparsile.passes.row_bounds`); None when dynamic without bounds."""
        from .dispatch_markers import module_of
        from .row_bounds import program_rows, value_rows

        return value_rows(self.input, program_rows(module_of(self.op)))

    @cached_property
    def storage_values(self) -> dict[str, ir.Value]:
        """The storage operands by the names the format gives them."""
        values = storage_operands(self.view)
        names = self.format.storage_names(self.params)
        if len(names) != len(values):
            return {f"storage{i}": v for i, v in enumerate(values)}
        return dict(zip(names, values))

    def storage_arrays(self) -> dict[str, np.ndarray] | None:
        """The storage as numpy arrays, or None when an operand is not a readable constant."""
        arrays = {}
        for name, value in self.storage_values.items():
            producer = defining_op(value)
            array = constant_array(producer) if producer is not None else None
            if array is None:
                return None
            arrays[name] = array
        return arrays

    def dense_weight(self) -> np.ndarray | None:
        """The ``[out, in]`` weight the storage holds (None when the storage is not constant)."""
        storage = self.storage_arrays()
        return None if storage is None else self.format.unpack(storage, self.params, self.shape)

    @property
    def record(self) -> dict[str, Any]:
        return sparsity_attr.read(self.op) or {}

    def epilogue_fields(self) -> dict[str, Any]:
        """The epilogue as keyword arguments of :func:`create` (to carry it over to a new kernel)."""
        fields: dict[str, Any] = {"epilogue": self.epilogue, "scale": self.scale}
        if self.bias is not None:
            fields["bias"] = self.bias
        if self.residual is not None:
            fields["residual"] = self.residual
        return fields


def create(
    fmt: str,
    storage: Mapping[str, ir.Value],
    *,
    input: ir.Value,
    result_type: ir.Type,
    shape: tuple[int, int],
    pattern: Pattern | str,
    layer: str,
    params: Mapping[str, Scalar] | None = None,
    tiles: Mapping[str, Scalar] | None = None,
    epilogue: str = "none",
    scale: float = 1.0,
    bias: ir.Value | None = None,
    residual: ir.Value | None = None,
    record: Mapping[str, Any] | None = None,
    conv: ConvGeometry | None = None,
) -> ir.Operation:
    """A ``sparsile.matmul`` (a ``sparsile.conv`` with ``conv``) at the current insertion point and location."""
    i64 = ir.IntegerType.get_signless(64)
    arrays = list(storage.values())
    if not arrays or len(arrays) > 1 + len(AUX_SLOTS):
        raise ValueError(f"a kernel holds 1 to {1 + len(AUX_SLOTS)} storage arrays, got {len(arrays)}")
    aux = dict(zip(AUX_SLOTS, arrays[1:]))
    fields: dict[str, Any] = {
        "input": input,
        "values": arrays[0],
        **aux,
        "format": ir.StringAttr.get(fmt),
        "params": dict_attr(params or {}),
        "tiles": dict_attr(tiles or {}),
        "pattern": ir.StringAttr.get(str(pattern)),
        "out_features": ir.IntegerAttr.get(i64, shape[0]),
        "in_features": ir.IntegerAttr.get(i64, shape[1]),
        "epilogue": ir.StringAttr.get(epilogue),
        "scale": ir.FloatAttr.get(ir.F32Type.get(), scale),
        "layer": ir.StringAttr.get(layer),
        "out": result_type,
        "bias": bias,
        "residual": residual,
    }
    if conv is None:
        op = MatmulOp(**fields).operation
    else:
        def pair(values: tuple[int, int]) -> ir.ArrayAttr:
            return ir.ArrayAttr.get([ir.IntegerAttr.get(i64, v) for v in values])

        op = ConvOp(**fields, window=pair(conv.window), strides=pair(conv.strides), dilations=pair(conv.dilations),
                    groups=ir.IntegerAttr.get(i64, conv.groups)).operation
    if record:
        sparsity_attr.write(op, dict(record))
    return op


def rebuild(kernel: ir.Operation, **changes: Any) -> ir.Operation:
    """A copy of ``kernel`` with ``changes`` (any :func:`create` argument) that replaces it.

    ``storage`` changes need ``fmt`` and ``params`` to match; the result is replaced
    unless ``result_type`` changes.
    """
    k = Kernel(kernel)
    fields: dict[str, Any] = {
        "fmt": k.format_name,
        "storage": k.storage_values,
        "input": k.input,
        "result_type": k.result_type,
        "shape": k.shape,
        "pattern": ir.StringAttr(kernel.attributes["pattern"]).value,
        "layer": k.layer,
        "params": k.params,
        "tiles": k.tiles,
        "record": k.record,
        "conv": k.conv,
        **k.epilogue_fields(),
    }
    fields.update(changes)
    with ir.InsertionPoint(kernel), kernel.location:
        new = create(**fields)
    if "result_type" not in changes:
        kernel.results[0].replace_all_uses_with(new.results[0])
    return new


def single_user(value: ir.Value) -> ir.Operation | None:
    """The only op using ``value`` (once), or None."""
    users = [use.owner for use in value.uses]
    if len(users) != 1:
        return None
    owner = users[0]
    return owner.operation if hasattr(owner, "operation") else owner


def storage_problem(op: ir.Operation) -> str | None:
    """What is wrong with the storage operands of a ``sparsile.matmul``, or None (for its verifier)."""
    from .formats import get_format

    kernel = Kernel(op)
    try:
        fmt = get_format(kernel.format_name)
    except ValueError as err:
        return str(err)
    return fmt.storage_problem(kernel)
