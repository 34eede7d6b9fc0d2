"""The artifact manifest: what a ``.vmfb`` computes and how it was made.

``manifest.json`` sits next to the payload (``model.vmfb``, or ``model.mlirbc`` for
``native-cpu``) and records the entry function,
the input/output tensors, the target and its IREE flags, the versions of the
tools that built it, the per-layer sparsity report and the sha256 of the
``.vmfb`` (checked on load, so a truncated or altered file is caught).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ArtifactError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (-1 for a dynamic dimension), dtype (numpy spelling) and layout of one input or output.

    ``layout`` is ``dense`` or a torch sparse layout (``csr``, ``coo``, ``bsr`` with
    ``block``); sparse tensors travel as their storage arrays, indices of ``index_dtype``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str = "dense"
    block: int = 0
    index_dtype: str = "int64"

    def describe(self) -> str:
        text = f"{self.dtype}[{', '.join('?' if d < 0 else str(d) for d in self.shape)}]"
        if self.layout != "dense":
            text += f" {self.layout}" + (f" {self.block}x{self.block}" if self.block else "")
        return text

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """Whether a tensor of ``shape`` fits this spec."""
        return len(shape) == len(self.shape) and all(d < 0 or d == s for d, s in zip(self.shape, shape))


@dataclass
class Manifest:
    """Everything ``sparsile.load`` and ``iree-run-module`` users need to know about an artifact."""

    entry: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    target: dict[str, Any]
    iree_flags: list[str]
    versions: dict[str, str]
    vmfb_sha256: str = ""
    output_tree: str | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    payload: str = "model.vmfb"
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["inputs"] = [_spec_json(t) for t in self.inputs]
        data["outputs"] = [_spec_json(t) for t in self.outputs]
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> Manifest:
        """Parse and validate a manifest; every defect is an ArtifactError naming ``source``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ArtifactError(f"{source} is not valid JSON ({err.msg} at line {err.lineno}); the artifact is damaged") from None
        if not isinstance(data, dict):
            raise ArtifactError(f"{source} does not hold a JSON object; the artifact is damaged")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ArtifactError(
                f"{source} has format_version {version!r}; this sparsile reads version {FORMAT_VERSION}: recompile the model"
            )
        try:
            data["inputs"] = [_tensor_spec(t) for t in data["inputs"]]
            data["outputs"] = [_tensor_spec(t) for t in data["outputs"]]
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = set(data) - known
            if unknown:
                raise ArtifactError(f"{source} has unknown fields: {', '.join(sorted(unknown))}")
            return cls(**data)
        except (KeyError, TypeError, ValueError) as err:
            raise ArtifactError(f"{source} is missing or has malformed fields ({err}); the artifact is damaged") from None


def _spec_json(spec: TensorSpec) -> dict[str, Any]:
    """A spec as JSON; dense tensors carry no layout fields."""
    data: dict[str, Any] = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}
    if spec.layout != "dense":
        data.update(layout=spec.layout, block=spec.block, index_dtype=spec.index_dtype)
    return data


def _tensor_spec(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=str(data["name"]),
        shape=tuple(int(d) for d in data["shape"]),
        dtype=str(data["dtype"]),
        layout=str(data.get("layout", "dense")),
        block=int(data.get("block", 0)),
        index_dtype=str(data.get("index_dtype", "int64")),
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
