"""Artifact directories on disk: writing them atomically and reading them back verified.

An artifact is ``manifest.json`` plus the files it lists (the payload, ``ir/`` dumps,
a parameter archive), each with its sha256 in the manifest, whose own ``digest``
covers the rest of it. Files are written to temporaries and renamed into place, the
manifest last, so a directory with a manifest is complete. Reading checks the
manifest's digest, then each file's hash as it is read; a file the manifest does not
list is never read. Large files (archives) are copied and hashed in chunks, never
held in memory whole.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ..errors import ArtifactError
from ..manifest import Manifest, sha256_hex

MANIFEST_NAME = "manifest.json"


def write_artifact(directory: str | os.PathLike[str], manifest: Manifest, files: Mapping[str, bytes | Path]) -> Path:
    """Write ``files`` (bytes, or a file to copy) and ``manifest`` (with their hashes filled in) into ``directory``."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ArtifactError(f"cannot save the artifact to {path}: it exists and is not a directory; choose another path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        hashes = {}
        for name, data in files.items():
            hashes[name] = _atomic_copy(path / name, data) if isinstance(data, Path) else _atomic_write(path / name, data)
        manifest.files = hashes
        _atomic_write(path / MANIFEST_NAME, manifest.to_json().encode())
    except OSError as err:
        raise ArtifactError(f"cannot save the artifact to {path}: {err.strerror or err}") from None
    return path


class ArtifactFiles:
    """The verified files of an artifact directory."""

    def __init__(self, directory: Path, manifest: Manifest):
        self.directory = directory
        self.manifest = manifest

    def has(self, name: str) -> bool:
        return name in self.manifest.files

    def read(self, name: str) -> bytes:
        """The bytes of ``name``, checked against the manifest's sha256."""
        expected = self.manifest.files.get(name)
        if expected is None:
            raise ArtifactError(f"{self.directory} does not list a file '{name}' in its manifest")
        path = self.directory / name
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ArtifactError(f"{path} cannot be read ({err.strerror or err}); the artifact is incomplete") from None
        digest = sha256_hex(data)
        if digest != expected:
            raise ArtifactError(
                f"{path} does not match the sha256 in {MANIFEST_NAME} ({len(data)} bytes, sha256 {digest[:12]}…, "
                f"expected {expected[:12]}…): the file was truncated or modified; recompile or copy the artifact again"
            )
        return data

    def verified_path(self, name: str) -> Path:
        """The path of ``name`` after checking its sha256 in chunks (for files too large to read whole)."""
        expected = self.manifest.files.get(name)
        if expected is None:
            raise ArtifactError(f"{self.directory} does not list a file '{name}' in its manifest")
        path = self.directory / name
        digest = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except OSError as err:
            raise ArtifactError(f"{path} cannot be read ({err.strerror or err}); the artifact is incomplete") from None
        if digest.hexdigest() != expected:
            raise ArtifactError(
                f"{path} does not match the sha256 in {MANIFEST_NAME} ({size} bytes, sha256 {digest.hexdigest()[:12]}…, "
                f"expected {expected[:12]}…): the file was truncated or modified; recompile or copy the artifact again"
            )
        return path


_CHUNK = 1 << 24


def read_artifact(directory: str | os.PathLike[str]) -> ArtifactFiles:
    """Open an artifact directory: its manifest parsed and its digest verified."""
    path = Path(directory)
    if not path.is_dir():
        raise ArtifactError(f"{path} is not an artifact directory (it does not exist or is a file)")
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ArtifactError(f"{path} has no {MANIFEST_NAME}; it is not a sparsile artifact or was not saved completely")
    try:
        text = manifest_path.read_text(errors="replace")
    except OSError as err:
        raise ArtifactError(f"{manifest_path} cannot be read: {err.strerror or err}") from None
    return ArtifactFiles(path, Manifest.from_json(text, str(manifest_path)))


def _atomic_write(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return sha256_hex(data)


def _atomic_copy(path: Path, source: Path) -> str:
    """Copy ``source`` to ``path`` through a temporary, hashing it in chunks; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.samefile(source):
        raise ArtifactError(f"cannot save the artifact onto itself ({path})")
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return digest.hexdigest()
