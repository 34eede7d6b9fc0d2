"""The public entry points: :func:`compile` and :func:`analyze` (and :func:`sparsile.load`, in the runtime)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .options import CompileOptions

if TYPE_CHECKING:
    from .compiled_model import CompiledModel
    from .report import SparsityReport


def compile(
    model: Any,
    example_args: Sequence[Any] | Any = (),
    target: str | None = None,
    *,
    options: CompileOptions | None = None,
    **kwargs: Any,
) -> CompiledModel:
    """Compile a model to an artifact for ``target`` and return it, ready to call.

    ``model`` is a ``torch.nn.Module`` (with ``example_args``, a tuple of tensors or a
    single tensor), a ``torch.export.ExportedProgram``, MLIR text, or the path of an
    ``.mlir``/``.mlirbc`` file. Keyword arguments are :class:`CompileOptions` fields.
    """
    from .driver import compile_model

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
    from .driver import analyze_model

    resolved = CompileOptions.from_kwargs(options, kwargs)
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    return analyze_model(model, tuple(example_args), resolved)


def lower(
    model: Any,
    example_args: Sequence[Any] | Any = (),
    to: str = "iree-handoff",
    *,
    options: CompileOptions | None = None,
    **kwargs: Any,
) -> str:
    """The IR of stage ``to`` (e.g. ``kernels``, ``iree-input``, ``iree-handoff``) for ``model`` on the target.

    Runs the stages up to ``to`` and stops there (same inputs as :func:`compile`);
    constants larger than ``elide_limit`` are elided (``elide_limit=None`` keeps all).
    """
    from .driver import lower_model
    from .stages import normalize_stage

    resolved = CompileOptions.from_kwargs(options, kwargs)
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    return lower_model(model, tuple(example_args), resolved, normalize_stage(to))


__all__ = ["analyze", "compile", "lower"]
