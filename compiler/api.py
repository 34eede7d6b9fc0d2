"""The public entry points: :func:`compile` and :func:`load`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .artifact import load
from .compiled_model import CompiledModel
from .driver import analyze_model, compile_model
from .options import CompileOptions
from .sparsity_report import SparsityReport


def compile(
    model: Any,
    example_args: Sequence[Any] | Any = (),
    target: str | None = None,
    *,
    options: CompileOptions | None = None,
    **kwargs: Any,
) -> CompiledModel:
    """Compile a model to an IREE artifact for ``target`` and return it, ready to call.

    ``model`` is a ``torch.nn.Module`` (with ``example_args``, a tuple of tensors or a
    single tensor), a ``torch.export.ExportedProgram``, MLIR text, or the path of an
    ``.mlir``/``.mlirbc`` file. Keyword arguments are :class:`CompileOptions` fields.
    """
    if target is not None:
        kwargs["target"] = target
    resolved = CompileOptions.from_kwargs(options, kwargs)
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    return compile_model(model, tuple(example_args), resolved)


def analyze(
    model: Any,
    example_args: Sequence[Any] | Any = (),
    *,
    options: CompileOptions | None = None,
    **kwargs: Any,
) -> SparsityReport:
    """The per-layer sparsity report of ``model`` without compiling it with IREE (same inputs as :func:`compile`)."""
    resolved = CompileOptions.from_kwargs(options, kwargs)
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    return analyze_model(model, tuple(example_args), resolved)


__all__ = ["analyze", "compile", "load", "CompiledModel", "CompileOptions", "SparsityReport"]
