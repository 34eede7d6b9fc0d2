"""The structure of a model's outputs as plain JSON, and rebuilding it from flat results.

A compiled function returns a flat list of tensors; the output structure says how
the torch model returned them: nested ``tuple``, ``list``, ``dict``, ``namedtuple``
and ``record`` nodes (a class with named fields, such as a Hugging Face
``ModelOutput`` or a dataclass) over ``leaf`` nodes. It is data only: rebuilding never
imports a module. A record becomes its class only when the class is in a fixed
registry (Hugging Face ``transformers.modeling_outputs``) and that module is already
imported by the program; otherwise it becomes an :class:`OutputRecord`, which reads the
same (``out.last_hidden_state``, ``out["last_hidden_state"]``, ``out[0]``).
"""

from __future__ import annotations

import collections
import keyword
import sys
from collections.abc import Iterator
from typing import Any

#: Modules whose record classes may be rebuilt (never imported by the loader: they must be loaded already).
RECORD_MODULES = ("transformers.modeling_outputs",)

Structure = dict[str, Any]


class StructureError(ValueError):
    """A malformed output structure."""


class OutputRecord(dict):
    """A record output (fields by name, in order) when its class is not rebuilt: a dict with attribute access."""

    def __init__(self, class_name: str, fields: dict[str, Any]):
        super().__init__(fields)
        self.class_name = class_name

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{self.class_name} output has no field {name!r}; fields: {', '.join(self)}") from None

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def __repr__(self) -> str:
        return f"{self.class_name}({', '.join(f'{k}=...' for k in self)})"


def count_leaves(node: Structure) -> int:
    """How many flat results ``node`` takes (checking its shape on the way)."""
    kind = _kind(node)
    if kind == "leaf":
        return 1
    return sum(count_leaves(child) for child in _items(node))


def rebuild(node: Structure | None, leaves: list[Any]) -> Any:
    """The model's return value from its flat results (one result alone, several as a tuple, without a structure)."""
    if node is None:
        return leaves[0] if len(leaves) == 1 else tuple(leaves)
    it = iter(leaves)
    value = _build(node, it)
    if next(it, None) is not None:
        raise StructureError("more results than the output structure holds")
    return value


def _build(node: Structure, leaves: Iterator[Any]) -> Any:
    kind = _kind(node)
    if kind == "leaf":
        try:
            return next(leaves)
        except StopIteration:
            raise StructureError("fewer results than the output structure holds") from None
    items = [_build(child, leaves) for child in _items(node)]
    if kind == "tuple":
        return tuple(items)
    if kind == "list":
        return items
    keys = _keys(node, len(items))
    if kind == "dict":
        return dict(zip(keys, items))
    if kind == "namedtuple":
        name = _identifier(node.get("name"), "namedtuple name")
        field_names = [_identifier(k, "namedtuple field") for k in keys]
        return collections.namedtuple(name, field_names)(*items)
    fields = {str(k): v for k, v in zip(keys, items)}
    cls = _record_class(str(node.get("class", "")))
    return cls(**fields) if cls is not None else OutputRecord(str(node.get("class", "record")).rsplit(".", 1)[-1], fields)


def _kind(node: Any) -> str:
    if not isinstance(node, dict) or node.get("type") not in ("leaf", "tuple", "list", "dict", "namedtuple", "record"):
        raise StructureError(f"not an output structure node: {node!r:.80}")
    return str(node["type"])


def _items(node: Structure) -> list[Structure]:
    items = node.get("items")
    if not isinstance(items, list):
        raise StructureError(f"a {node['type']} node needs a list of items")
    return items


def _keys(node: Structure, count: int) -> list[Any]:
    keys = node.get("keys")
    if not isinstance(keys, list) or len(keys) != count or not all(isinstance(k, (str, int)) for k in keys):
        raise StructureError(f"a {node['type']} node needs {count} string or integer keys")
    return keys


def _identifier(text: Any, what: str) -> str:
    if not isinstance(text, str) or not text.isidentifier() or keyword.iskeyword(text):
        raise StructureError(f"{what} {text!r} is not a Python identifier")
    return text


def _record_class(qualified: str) -> type | None:
    """The registered record class ``qualified`` names, if its module is already loaded (never imported here)."""
    module_name, _, name = qualified.rpartition(".")
    if module_name not in RECORD_MODULES or not name.isidentifier():
        return None
    module = sys.modules.get(module_name)
    cls = getattr(module, name, None) if module is not None else None
    return cls if isinstance(cls, type) and issubclass(cls, dict) else None
