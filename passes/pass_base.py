"""The base class of sparsile's Python passes and their option syntax.

A pass is a frozen dataclass: the class-level ``name`` is its kebab-case pass
name and its fields are its options, so ``detect-sparsity{min-sparsity=0.3}``
round-trips to ``min_sparsity: float = 0.3``. The pass manager calls
:meth:`Pass.run` with the operation it is anchored on (the module); a pass
reports failure the MLIR way, with ``op.location.emit_error(...)`` and
``pass_.signal_pass_failure()``, never with ``assert``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import PassOptionError

if TYPE_CHECKING:
    from ..mlir import ir


@dataclasses.dataclass(frozen=True)
class Pass:
    """A sparsile pass; subclasses set ``name`` and override :meth:`run`."""

    name: ClassVar[str] = ""

    def run(self, op: ir.Operation, pass_: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def summary(cls) -> str:
        """The first line of the pass's docstring."""
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Pass:
        """Build the pass from ``{option: value}`` (kebab- or snake-case names; text or typed values)."""
        return cls().with_options(options)

    def with_options(self, options: Mapping[str, Any]) -> Pass:
        """A copy with ``options`` set; text values are converted to each field's type."""
        hints = typing.get_type_hints(type(self))
        fields = {f.name: f for f in dataclasses.fields(self)}
        kwargs: dict[str, Any] = {}
        for key, value in options.items():
            attr = key.replace("-", "_")
            if attr not in fields:
                valid = ", ".join(f.name.replace("_", "-") for f in fields.values()) or "(none)"
                raise PassOptionError(f"pass '{self.name}' has no option '{key}'; its options are: {valid}")
            kwargs[attr] = _convert_option(self.name, key, value, hints[attr])
        return dataclasses.replace(self, **kwargs)

    def spec(self) -> str:
        """This pass with its non-default options, in pipeline syntax."""
        opts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
                continue
            opts.append(f"{f.name.replace('_', '-')}={format_option(value)}")
        return f"{self.name}{{{' '.join(opts)}}}" if opts else self.name


def _convert_option(pass_name: str, key: str, value: Any, hint: Any) -> Any:
    if not isinstance(value, str):
        return _typed_option(pass_name, key, value, hint)
    text = value
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint in (int, float, str):
            return hint(text.strip())
        if origin is tuple:
            (item_type, *_rest) = typing.get_args(hint)
            parts = [p.strip() for p in text.split(",") if p.strip()]
            return tuple(item_type(p) for p in parts)
    except ValueError:
        raise PassOptionError(
            f"option '{key}' of pass '{pass_name}' expects {getattr(hint, '__name__', hint)}, got {text!r}"
        ) from None
    raise PassOptionError(f"option '{key}' of pass '{pass_name}' has an unsupported type {hint}")


def _typed_option(pass_name: str, key: str, value: Any, hint: Any) -> Any:
    """A non-text option value, checked against the field's type (sequences become tuples)."""
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, (list, tuple, set)):
        (item_type, *_rest) = typing.get_args(hint)
        return tuple(item_type(v) for v in value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (bool, int, str) and type(value) is hint:
        return value
    raise PassOptionError(f"option '{key}' of pass '{pass_name}' expects {getattr(hint, '__name__', hint)}, got {value!r}")


def format_option(value: Any) -> str:
    """A Python option value in pipeline syntax (``true``, ``a,b``, ``0.5``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(v) for v in value)
    return str(value)
