"""The output structure of a torch program, in the plain JSON of :mod:`sparsile.runtime.output_structure`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .runtime.output_structure import Structure, rebuild


@dataclass(frozen=True)
class OutputTree:
    """How to rebuild a model's return value from the flat results (None: one result, or a tuple)."""

    structure: Structure | None = None

    @classmethod
    def from_program(cls, program: Any) -> OutputTree:
        """The structure of an ExportedProgram's outputs."""
        return cls(from_treespec(program.call_spec.out_spec))

    def unflatten(self, leaves: list[Any]) -> Any:
        return rebuild(self.structure, leaves)


def from_treespec(spec: Any) -> Structure:
    """A torch pytree ``TreeSpec`` as a plain structure (custom nodes become records)."""
    if spec.is_leaf():
        return {"type": "leaf"}
    items = [from_treespec(child) for child in spec.children()]
    node_type, context = spec.type, spec.context
    if node_type is tuple:
        return {"type": "tuple", "items": items}
    if node_type is list:
        return {"type": "list", "items": items}
    if node_type is dict:
        return {"type": "dict", "keys": [_key(k) for k in context], "items": items}
    if isinstance(context, type) and issubclass(context, tuple) and hasattr(context, "_fields"):
        return {"type": "namedtuple", "name": context.__name__, "keys": list(context._fields), "items": items}
    if isinstance(node_type, type):
        keys = _record_keys(node_type, context, len(items))
        return {"type": "record", "class": f"{node_type.__module__}.{node_type.__qualname__}", "keys": keys, "items": items}
    return {"type": "tuple", "items": items}


def _key(key: Any) -> str | int:
    return key if isinstance(key, (str, int)) and not isinstance(key, bool) else str(key)


def _record_keys(node_type: type, context: Any, count: int) -> list[str | int]:
    if isinstance(context, (list, tuple)) and len(context) == count and all(isinstance(k, str) for k in context):
        return list(context)
    if dataclasses.is_dataclass(node_type):
        names = [f.name for f in dataclasses.fields(node_type)]
        if len(names) == count:
            return list(names)
    return [f"field{i}" for i in range(count)]
