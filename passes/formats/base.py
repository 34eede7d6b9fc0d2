"""What a storage format is: the interface every module of :mod:`sparsile.passes.formats` implements.

A format owns, for the weights it stores:

- *detection*, if it is the home of a pattern kind (``kind``): :meth:`detect` names
  the pattern in a measured weight, :meth:`violation` says why a requested one does
  not hold;
- *storage*: :meth:`plan` picks the layout parameters and tiles for a target and a
  number of input rows (None: the format cannot run there), :meth:`pack` and
  :meth:`unpack` convert a dense ``[out, in]`` weight, :meth:`storage_problem` checks
  the operands of a ``sparsile.matmul`` for the verifier;
- *cost*: :meth:`seconds`, the predicted time as a sympy expression of the rows ``M``;
- *lowering* per target family (``cpu``, ``gpu``, ``vulkan``, ``native``): :meth:`lower`
  emits IR that reads the kernel's storage operands as they are;
- *convolutions*, for the formats that store conv filters (held as ``[F, C*KH*KW]``
  matrices): :meth:`plan_conv` and :meth:`lower_conv`, the same for a ``sparsile.conv``;
- *report*: :meth:`describe` says in a few words how the weight is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...dialects.patterns import Pattern, PatternKind
from ...mlir import ir
from ..cost_model import coefficients, linear_cost
from ..kernel_values import FLOAT_DTYPES, FLOAT_STORAGE, Quantization

if TYPE_CHECKING:
    import sympy

    from ..conv_geometry import ConvGeometry
    from ..kernel_ops import Kernel
    from ..weight_stats import SparsityStats

TARGET_FAMILIES = ("cpu", "gpu", "vulkan", "native")
#: The families IREE compiles for GPUs (SPIR-V included): their kernels' costs were measured on a GPU.
GPU_FAMILIES = frozenset({"gpu", "vulkan"})
#: What each target feature a format may require (:attr:`StorageFormat.requires`) stands for, for messages.
TARGET_FEATURES = {"vector-expand": "AVX-512 VBMI2 (vector-expand)", "vector-permute": "AVX2 (vector-permute)"}
#: numpy dtype of stored float values -> its precision's name (the cost model's key).
_FLOAT_NAMES = dict(zip(FLOAT_DTYPES, FLOAT_STORAGE))


@dataclass(frozen=True)
class Plan:
    """A format's choice for one weight on one target: layout parameters and kernel tiles."""

    params: dict[str, Any] = field(default_factory=dict)
    tiles: dict[str, Any] = field(default_factory=dict)
    #: The rows the kernel computes, when it pads the input (the cost is taken there).
    rows: int | None = None
    #: The kernel (one of the format's ``kernels``) that runs the plan; empty: the format's first.
    kernel: str = ""


class StorageFormat:
    """Base class of the storage formats (one instance per format module, named ``FORMAT``)."""

    #: The name kernel ops carry in their ``format`` attribute.
    name: ClassVar[str] = ""
    #: The pattern kind whose detection lives in this format (None for storage-only formats).
    kind: ClassVar[PatternKind | None] = None
    #: Detection order among the home formats: lower is tried first.
    detect_priority: ClassVar[int] = 100
    #: The target families :meth:`lower` supports.
    targets: ClassVar[frozenset[str]] = frozenset()
    #: The kernels whose coefficients the cost model holds for this format (see :meth:`kernel`).
    kernels: ClassVar[tuple[str, ...]] = ("default",)
    #: Target features (:attr:`sparsile.targets.Target.features`) without which the format is not chosen
    #: (it would still run correctly, but slower than its costs say).
    requires: ClassVar[frozenset[str]] = frozenset()
    #: Target features of which the format needs one, any one (its kernel has a lowering for each).
    requires_one_of: ClassVar[frozenset[str]] = frozenset()
    #: Per kernel, the features it needs where that is not the format's :attr:`requires`.
    kernel_requires: ClassVar[dict[str, frozenset[str]]] = {}

    def missing_features(self, features: Iterable[str]) -> str:
        """The features of :attr:`requires` (and of :attr:`requires_one_of`, when none is there)
        not among ``features``, as a user reads them (``""``: none missing)."""
        have = set(features)
        missing = [TARGET_FEATURES.get(f, f) for f in sorted(self.requires - have)]
        if self.requires_one_of and not self.requires_one_of & have:
            missing.append(" or ".join(TARGET_FEATURES.get(f, f) for f in sorted(self.requires_one_of)))
        return ", ".join(missing)

    def kernel_missing_features(self, kernel: str, features: Iterable[str]) -> str:
        """The features kernel ``kernel`` needs (:attr:`kernel_requires`, else the format's) not among ``features``."""
        needed = self.kernel_requires.get(kernel)
        if needed is None:
            return self.missing_features(features)
        return ", ".join(TARGET_FEATURES.get(f, f) for f in sorted(needed - set(features)))

    def for_features(self, plan: Plan, features: Iterable[str]) -> Plan:
        """``plan`` for a target with ``features`` (where the format lowers differently per feature,
        the params name the lowering, so that storage and kernel agree); by default ``plan``."""
        return plan

    # --- detection --------------------------------------------------------------------------
    def detect(self, mask: np.ndarray, stats: SparsityStats) -> Pattern | None:
        """The pattern of this format's kind that ``mask`` (``[out, red]``) has, or None."""
        return None

    def violation(self, mask: np.ndarray, pattern: Pattern, channel_group: int) -> str | None:
        """Why ``mask`` does not have ``pattern`` (of this format's kind), or None when it does."""
        return None

    # --- storage ----------------------------------------------------------------------------
    def holds(self, pattern: Pattern) -> bool:
        """Whether this format can store weights of ``pattern``."""
        raise NotImplementedError

    def plan(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str) -> Plan | None:
        """Parameters and tiles for ``weight`` at ``rows`` input rows on ``target``; None if it cannot run there."""
        raise NotImplementedError

    def plan_stored(self, pattern: Pattern, weight: np.ndarray, rows: int, target: str, quant: Quantization | None) -> Plan | None:
        """:meth:`plan`, then :meth:`quantized_plan` when the values are stored quantized with ``quant``."""
        plan = self.plan(pattern, weight, rows, target)
        if plan is not None and quant is not None:
            plan = self.quantized_plan(plan, quant, weight.shape, rows, target)
        return plan

    def quantized_plan(self, plan: Plan, quant: Quantization, weight_shape: tuple[int, int], rows: int, target: str) -> Plan | None:
        """``plan`` with the weight's values stored quantized with ``quant``; None where the format cannot.

        The returned params carry ``quant`` (the scheme's name), which :meth:`pack`,
        :meth:`unpack` and :meth:`lower` read.
        """
        return None

    def tile_variants(self, plan: Plan, weight: np.ndarray, rows: int) -> list[Plan]:
        """Other plans worth timing for ``weight`` at ``rows`` rows when a compile is tuned (``plan`` excluded)."""
        return []

    def replan(self, plan: Plan, params: dict[str, Any], weight_shape: tuple[int, int]) -> Plan | None:
        """``plan`` (made for some row count) for storage packed with ``params`` instead of its own; None if it cannot run it.

        A kernel whose rows are dynamic is compiled for several row counts over one storage,
        packed with the params of one of their plans.
        """
        return plan if plan.params == params else None

    def storage_names(self, params: dict[str, Any]) -> tuple[str, ...]:
        """The names of the storage operands, in operand order."""
        raise NotImplementedError

    def pack(self, weight: np.ndarray, params: dict[str, Any]) -> dict[str, np.ndarray]:
        """The storage arrays of a dense ``[out, in]`` weight."""
        raise NotImplementedError

    def unpack(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
        """The dense ``[out, in]`` weight of ``storage`` (exact inverse of :meth:`pack`)."""
        raise NotImplementedError

    def expected_storage(self, kernel: Kernel) -> list[tuple[str, list[int] | None, tuple[str, ...]]]:
        """(name, shape or None for any 1-D length, allowed element types) per storage operand."""
        raise NotImplementedError

    def storage_problem(self, kernel: Kernel) -> str | None:
        """What is wrong with the kernel's storage operands, or None."""
        values = kernel.storage_operands
        expected = self.expected_storage(kernel)
        if len(values) != len(expected):
            names = ", ".join(name for name, _, _ in expected)
            return f"with format '{self.name}' takes {len(expected)} storage operands ({names}), got {len(values)}"
        for value, (name, shape, elements) in zip(values, expected):
            t = ir.RankedTensorType(value.type)
            got = list(t.shape)
            element = str(t.element_type)
            if shape is None and len(got) != 1:
                return f"storage '{name}' must be 1-D, got {got}"
            if shape is not None and got != shape:
                return f"storage '{name}' must be {shape}, got {got}"
            if element not in elements:
                return f"storage '{name}' must hold {' or '.join(elements)}, not {element}"
        storage = kernel.storage_arrays()
        return None if storage is None else self.content_problem(storage, kernel.params, kernel.shape)

    def content_problem(self, storage: dict[str, np.ndarray], params: dict[str, Any], shape: tuple[int, int]) -> str | None:
        """What is wrong with constant storage arrays (indices out of range...), or None."""
        return None

    # --- cost -------------------------------------------------------------------------------
    def stored_values(self, storage: dict[str, np.ndarray], params: dict[str, Any]) -> int:
        """How many weight values the kernel streams (what the cost is proportional to)."""
        return int(storage["values"].size)

    def kernel(self, plan: Plan) -> str:
        """Which of :attr:`kernels` runs ``plan`` (its cost coefficients are that kernel's)."""
        return plan.kernel or self.kernels[0]

    def precision(self, storage: dict[str, np.ndarray], params: dict[str, Any]) -> str:
        """How the values are stored: the quantization's name, else their float type (``f32``, ``f16``, ``bf16``)."""
        if params.get("quant"):
            return str(params["quant"])
        values = storage.get("values")
        return _FLOAT_NAMES.get(values.dtype, "f32") if values is not None else "f32"

    def scanned_positions(self, shape: tuple[int, int]) -> int:
        """Weight positions, zeros included, the kernel visits for a weight of ``shape`` ([out, in]);
        0 for kernels whose work follows the stored values only."""
        return 0

    def seconds(self, storage: dict[str, np.ndarray], plan: Plan, shape: tuple[int, int] | None = None) -> sympy.Expr:
        """Predicted seconds of one call, as an expression of the rows ``M`` the kernel computes
        (``shape``, the weight's, for kernels that visit every position)."""
        block = int(plan.tiles.get("mb", 0))
        nbytes = sum(int(a.nbytes) for a in storage.values())
        fitted = coefficients(self.name, self.kernel(plan), self.precision(storage, plan.params))
        positions = self.scanned_positions(shape) if shape is not None else 0
        return linear_cost(self.stored_values(storage, plan.params), fitted, block, nbytes, positions)

    # --- lowering ---------------------------------------------------------------------------
    def lower(self, kernel: Kernel, target: str) -> ir.Value:
        """IR computing the kernel (epilogue included) from its storage operands, at the kernel."""
        raise NotImplementedError

    # --- convolutions -----------------------------------------------------------------------
    def plan_conv(self, pattern: Pattern, weight: np.ndarray, conv: ConvGeometry, input_shape: tuple[int, ...], target: str) -> Plan | None:
        """The plan for a conv filter ``weight`` (``[F, C*KH*KW]``) over a padded NCHW input of
        ``input_shape`` on ``target``; None where the format does not store convolutions (the default)."""
        return None

    def lower_conv(self, kernel: Kernel, target: str) -> ir.Value:
        """IR computing a ``sparsile.conv`` (epilogue included) from its storage operands, at the kernel."""
        raise NotImplementedError

    # --- report -----------------------------------------------------------------------------
    def describe(self, params: dict[str, Any]) -> str:
        """How the weight is stored, for the report (``chunked CSR, 16-bit columns``)."""
        return self.name
