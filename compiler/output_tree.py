"""The structure of a model's outputs (tensor, tuple, dict, dataclass...).

A compiled function returns a flat list of tensors; the output tree rebuilds
what the torch model returned. It travels in the manifest as torch's pytree
JSON; a structure that cannot be serialised (an unregistered custom class)
comes back from a saved artifact as a flat tuple.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch.utils._pytree as pytree
from torch.export import ExportedProgram


@dataclass(frozen=True)
class OutputTree:
    """How to rebuild a model's return value from the flat results."""

    spec: pytree.TreeSpec | None = None

    @classmethod
    def from_program(cls, program: ExportedProgram) -> OutputTree:
        return cls(program.call_spec.out_spec)

    @classmethod
    def from_json(cls, text: str | None) -> OutputTree:
        if not text:
            return cls(None)
        try:
            return cls(pytree.treespec_loads(text))
        except Exception as err:  # an unknown node type in this process
            warnings.warn(f"the artifact's output structure cannot be rebuilt here ({err}); returning a tuple", stacklevel=3)
            return cls(None)

    def to_json(self) -> str | None:
        if self.spec is None:
            return None
        try:
            return pytree.treespec_dumps(self.spec)
        except Exception:  # custom nodes without a serialized name
            return None

    def unflatten(self, leaves: list[Any]) -> Any:
        if self.spec is not None and self.spec.num_leaves == len(leaves):
            return pytree.tree_unflatten(leaves, self.spec)
        return leaves[0] if len(leaves) == 1 else tuple(leaves)
