"""MODEL arguments of the CLI: ``path/to/file.py:factory`` or an MLIR file."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ModelSpecError

MLIR_SUFFIXES = (".mlir", ".mlirbc")


def is_mlir_path(spec: str) -> bool:
    return Path(spec).suffix in MLIR_SUFFIXES


def parse_factory_args(items: Sequence[str]) -> dict[str, Any]:
    """``["batch=8", "name=bert"]`` -> ``{"batch": 8, "name": "bert"}`` (Python literals, else text)."""
    kwargs: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ModelSpecError(f"--arg {item!r} must be NAME=VALUE, e.g. batch=8")
        try:
            kwargs[key.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key.strip()] = text
    return kwargs


def load_factory_model(spec: str, kwargs: Mapping[str, Any] | None = None) -> tuple[Any, tuple[Any, ...]]:
    """Run the factory named by ``file.py:factory`` (with ``kwargs``) and return ``(module, example_args)``."""
    file_part, sep, factory_name = spec.rpartition(":")
    if not sep or not file_part or not factory_name:
        raise ModelSpecError(f"MODEL {spec!r} must be 'path/to/file.py:factory' or an .mlir file")
    path = Path(file_part)
    if not path.is_file():
        raise ModelSpecError(f"MODEL {spec!r}: {path} does not exist")
    module = _load_python_file(path)
    factory = getattr(module, factory_name, None)
    if factory is None or not callable(factory):
        names = [n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__]
        raise ModelSpecError(
            f"MODEL {spec!r}: {path} has no function '{factory_name}'; functions defined there: {', '.join(names) or 'none'}"
        )
    kwargs = dict(kwargs or {})
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as err:
        params = ", ".join(inspect.signature(factory).parameters) or "none"
        raise ModelSpecError(f"MODEL {spec!r}: {factory_name}() does not take these arguments ({err}); its parameters: {params}") from None
    result = factory(**kwargs)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ModelSpecError(
            f"MODEL {spec!r}: {factory_name}() must return (module, example_args), got {type(result).__name__}"
        )
    model, example_args = result
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    return model, tuple(example_args)


def _load_python_file(path: Path) -> Any:
    name = f"sparsile_model_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelSpecError(f"{path} cannot be loaded as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise ModelSpecError(f"{path} raised while being imported: {type(err).__name__}: {err}") from err
    return module
