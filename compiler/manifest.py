"""The artifact manifest: what a payload computes, how it was made, and the hashes that bind the files.

``manifest.json`` sits next to the payload (``model.vmfb``, or ``model.mlirbc`` for
``native-cpu``) and records the entry function, the input/output tensors, the target
and its IREE flags, the versions of the tools that built it, the per-layer sparsity
report, the model's output structure (plain JSON, see
:mod:`sparsile.runtime.output_structure`), the parameter archives the module reads
its weights from (``parameters``: scope -> file), the signatures of the functions it
exports besides the entry (``functions``), what a causal LM needs to generate
(``generation``) and the sha256 of every file the loader reads. ``digest`` is the
sha256 of the rest of the manifest, so editing any field, or any file (an archive
included), without recompiling is caught on load. The manifest is data: nothing
in it is imported or executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from .errors import ArtifactError

FORMAT_VERSION = 2


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape (-1 for a dynamic dimension), dtype (numpy spelling) and layout of one input or output.

    ``layout`` is ``dense`` or a torch sparse layout (``csr``, ``coo``, ``bsr`` with
    ``block``); sparse tensors travel as their storage arrays, indices of ``index_dtype``.
    ``bounds`` gives each dynamic dimension its ``(min, max)`` (static ones their size);
    empty where the compile was not told any.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str = "dense"
    block: int = 0
    index_dtype: str = "int64"
    bounds: tuple[tuple[int, int], ...] = ()

    def describe(self) -> str:
        dims = []
        for i, d in enumerate(self.shape):
            if d >= 0:
                dims.append(str(d))
            elif self.bounds:
                dims.append(f"{self.bounds[i][0]}..{self.bounds[i][1]}")
            else:
                dims.append("?")
        text = f"{self.dtype}[{', '.join(dims)}]"
        if self.layout != "dense":
            text += f" {self.layout}" + (f" {self.block}x{self.block}" if self.block else "")
        return text

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """Whether a tensor of ``shape`` fits this spec (its sizes, and its dynamic ones within their bounds)."""
        if len(shape) != len(self.shape) or any(d >= 0 and d != s for d, s in zip(self.shape, shape)):
            return False
        return not self.bounds or all(lo <= s <= hi for (lo, hi), s in zip(self.bounds, shape))


@dataclass
class Manifest:
    """Everything ``sparsile.load`` and ``iree-run-module`` users need to know about an artifact."""

    entry: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    target: dict[str, Any]
    iree_flags: list[str]
    versions: dict[str, str]
    output_structure: dict[str, Any] | None = None
    layers: list[dict[str, Any]] = field(default_factory=list)
    payload: str = "model.vmfb"
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    #: Parameter scope -> archive file (``{"model": "model.irpa"}``) when the weights are not in the payload.
    parameters: dict[str, str] = field(default_factory=dict)
    #: Functions exported besides ``entry``: name -> ``{"inputs": [...], "outputs": [...]}``.
    functions: dict[str, dict[str, list[TensorSpec]]] = field(default_factory=dict)
    #: A causal LM's generation settings (``max_seq_len``, ``prefill_len``, ``eos_token_ids``...); None otherwise.
    generation: dict[str, Any] | None = None

    def to_data(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["inputs"] = [_spec_json(t) for t in self.inputs]
        data["outputs"] = [_spec_json(t) for t in self.outputs]
        data["functions"] = {name: {kind: [_spec_json(t) for t in specs] for kind, specs in sig.items()}
                             for name, sig in self.functions.items()}
        # Fields an artifact does not use stay out, so manifests of plain models read as before.
        for name in ("parameters", "functions", "generation"):
            if not data[name]:
                del data[name]
        return data

    def to_json(self) -> str:
        """The manifest with its ``digest``."""
        data = self.to_data()
        data["digest"] = content_digest(data)
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
        digest = data.pop("digest", None)
        if digest != content_digest(data):
            raise ArtifactError(
                f"{source} was modified after sparsile wrote it (its digest does not match its content); "
                "the artifact cannot be trusted: recompile the model or copy the artifact again"
            )
        try:
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = set(data) - known
            if unknown:
                raise ArtifactError(f"{source} has unknown fields: {', '.join(sorted(unknown))}")
            data["inputs"] = [_tensor_spec(t) for t in data["inputs"]]
            data["outputs"] = [_tensor_spec(t) for t in data["outputs"]]
            data["functions"] = {str(name): {kind: [_tensor_spec(t) for t in sig[kind]] for kind in ("inputs", "outputs")}
                                 for name, sig in data.get("functions", {}).items()}
            manifest = cls(**data)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ArtifactError(f"{source} is missing or has malformed fields ({err}); the artifact is damaged") from None
        manifest._check_files(source)
        return manifest

    def _check_files(self, source: str) -> None:
        if not isinstance(self.files, dict) or self.payload not in self.files:
            raise ArtifactError(f"{source} does not list its payload {self.payload!r} among its files")
        for name, digest in self.files.items():
            if not is_artifact_path(name) or not (isinstance(digest, str) and len(digest) == 64):
                raise ArtifactError(f"{source} lists a file {name!r} that is not a plain path inside the artifact")
        if not isinstance(self.parameters, dict):
            raise ArtifactError(f"{source} has a malformed 'parameters' field (expected scope -> file)")
        for scope, name in self.parameters.items():
            if name not in self.files:
                raise ArtifactError(f"{source} names the parameter archive {name!r} (scope {scope!r}) but does not list it among its files")


def is_artifact_path(name: Any) -> bool:
    """Whether ``name`` is a relative POSIX path that stays inside the artifact directory."""
    if not isinstance(name, str) or not name or "\\" in name or "\0" in name:
        return False
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and "." not in path.parts


def content_digest(data: dict[str, Any]) -> str:
    """The sha256 of a manifest's fields (``digest`` excluded), in canonical JSON."""
    canonical = json.dumps({k: v for k, v in data.items() if k != "digest"}, sort_keys=True, separators=(",", ":"))
    return sha256_hex(canonical.encode())


def _spec_json(spec: TensorSpec) -> dict[str, Any]:
    """A spec as JSON; dense tensors carry no layout fields."""
    data: dict[str, Any] = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}
    if spec.layout != "dense":
        data.update(layout=spec.layout, block=spec.block, index_dtype=spec.index_dtype)
    if spec.bounds:
        data["bounds"] = [list(b) for b in spec.bounds]
    return data


def _tensor_spec(data: dict[str, Any]) -> TensorSpec:
    return TensorSpec(
        name=str(data["name"]),
        shape=tuple(int(d) for d in data["shape"]),
        dtype=str(data["dtype"]),
        layout=str(data.get("layout", "dense")),
        block=int(data.get("block", 0)),
        index_dtype=str(data.get("index_dtype", "int64")),
        bounds=tuple((int(lo), int(hi)) for lo, hi in data.get("bounds", ())),
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
