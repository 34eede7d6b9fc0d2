"""The pass registry and the textual pipeline syntax.

sparsile's Python passes are registered here by kebab-case name, each as a lazy
``module:Class`` reference so importing the package stays cheap. A pipeline is
written mlir-opt style, ``check-input,canonicalize,detect-sparsity{min-sparsity=0.5}``:
names found here become sparsile passes, every other element is handed to MLIR's
own pipeline parser as an upstream pass (``cse``, ``func.func(canonicalize)``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PassOptionError, UnknownPassError
from .pass_base import Pass, format_option

if TYPE_CHECKING:
    from ..mlir import ir

_PASSES: dict[str, str] = {
    "check-input": "sparsile.passes.check_input:CheckInput",
    "check-iree-input": "sparsile.passes.check_iree_input:CheckIreeInput",
    "compact-structured": "sparsile.passes.compact_structured:CompactStructured",
    "detect-sparsity": "sparsile.passes.detect_sparsity:DetectSparsity",
    "fold-batchnorm": "sparsile.passes.fold_batchnorm:FoldBatchnorm",
    "fold-weight-masks": "sparsile.passes.fold_weight_masks:FoldWeightMasks",
    "fuse-epilogues": "sparsile.passes.fuse_epilogues:FuseEpilogues",
    "form-kernels": "sparsile.passes.form_kernels:FormKernels",
    "lower-to-iree": "sparsile.passes.lower_to_iree:LowerToIree",
    "lower-to-native": "sparsile.passes.lower_to_native:LowerToNative",
    "rewrite-gelu-tanh": "sparsile.passes.rewrite_gelu_tanh:RewriteGeluTanh",
    "schedule": "sparsile.passes.schedule:Schedule",
    "select-to-maximum": "sparsile.passes.select_to_maximum:SelectToMaximum",
    "share-tied-weights": "sparsile.passes.share_tied_weights:ShareTiedWeights",
}


@dataclass(frozen=True)
class UpstreamPass:
    """An element of a pipeline that MLIR's own pass registry provides."""

    text: str

    @property
    def name(self) -> str:
        return self.text.split("{", 1)[0].split("(", 1)[0]

    def spec(self) -> str:
        return self.text

    def with_options(self, options: Mapping[str, Any]) -> UpstreamPass:
        """This pass with ``options`` added in MLIR's ``{key=value}`` syntax."""
        if not options:
            return self
        extra = " ".join(f"{k}={format_option(v)}" for k, v in options.items())
        base, brace, body = self.text.partition("{")
        inner = f"{body.rstrip().removesuffix('}')} {extra}".strip() if brace else extra
        return UpstreamPass(f"{base}{{{inner}}}")


PipelineElement = Pass | UpstreamPass


def pass_names() -> list[str]:
    """The names of sparsile's own passes, sorted."""
    return sorted(_PASSES)


def pass_summary(name: str) -> str:
    """The first line of a sparsile pass's docstring, read from its source without importing it."""
    ref = _PASSES.get(name)
    if ref is None:
        raise UnknownPassError(name, pass_names())
    module_name, _, class_name = ref.partition(":")
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return ""
    tree = ast.parse(Path(spec.origin).read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            doc = ast.get_docstring(node) or ""
            return doc.strip().splitlines()[0] if doc.strip() else ""
    return ""


def make(name: str, **options: Any) -> Pass:
    """An instance of the sparsile pass ``name`` with typed ``options``."""
    return pass_class(name)().with_options(options)


def pass_class(name: str) -> type[Pass]:
    """The class of a sparsile pass; UnknownPassError lists the valid names."""
    ref = _PASSES.get(name)
    if ref is None:
        raise UnknownPassError(name, pass_names())
    module_name, _, class_name = ref.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside of ``{}`` and ``()``; empty elements are dropped."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
            if depth < 0:
                raise PassOptionError(f"unbalanced '{ch}' in pipeline {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise PassOptionError(f"unbalanced braces in pipeline {text!r}")
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _parse_options(name: str, body: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in body.split():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise PassOptionError(f"option {item!r} of pass '{name}' is not of the form key=value")
        options[key] = value
    return options


def parse_pipeline(text: str, ctx: ir.Context | None = None) -> list[PipelineElement]:
    """Parse a comma-separated pipeline into sparsile passes and validated upstream passes."""
    elements: list[PipelineElement] = []
    for item in split_top_level(text):
        name, brace, rest = item.partition("{")
        name = name.strip()
        if name in _PASSES:
            if brace and not rest.endswith("}"):
                raise PassOptionError(f"pass element {item!r} has text after its options")
            options = _parse_options(name, rest[:-1]) if brace else {}
            elements.append(pass_class(name).from_options(options))
        else:
            elements.append(_upstream(item, ctx))
    return elements


@functools.cache
def validate_upstream(text: str) -> UpstreamPass:
    """``text`` as an upstream pipeline element, after MLIR's parser accepted it (PassOptionError if not)."""
    return _upstream(text, None)


def _upstream(item: str, ctx: ir.Context | None) -> UpstreamPass:
    from ..mlir import ir, passmanager

    context = ctx or ir.Context()
    with context:
        try:
            passmanager.PassManager.parse(f"builtin.module({item})")
        except ValueError as err:
            message = str(err)
            if "does not refer to a registered pass" in message:
                raise UnknownPassError(item.split("{", 1)[0].split("(", 1)[0], pass_names()) from None
            raise PassOptionError(f"upstream pass {item!r} does not parse: {message.strip()}") from None
    return UpstreamPass(item)
