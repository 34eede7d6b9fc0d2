"""The on-disk artifact cache: compiled models keyed by a hash of everything that shapes them.

The key covers the sparsile version and a hash of its source files, the module's
linalg-stage bytecode, every
compile option that changes output, the target's IREE flags, the host CPU when
compiling for it, and the output-affecting environment variables. An entry is a
directory ``<key>/`` holding ``model.vmfb``, ``manifest.json`` and ``ir/``. It is
written into a private temporary directory and renamed into place, so readers
never see a partial entry and concurrent writers of the same key leave exactly one
(the losers discard theirs). A damaged entry is a miss and is replaced.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import environment
from .errors import ArtifactError

ENTRY_PREFIX = "sp-"


@dataclass
class CacheStats:
    """Counters for tests and diagnostics: lookups that hit, missed, and entries stored."""

    hits: int = 0
    misses: int = 0
    stores: int = 0
    keys: list[str] = field(default_factory=list)


stats = CacheStats()


def host_cpu() -> str:
    """An identifier of this machine's CPU model and features (``-march=native`` code depends on them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [l for l in text.splitlines() if l.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return hashlib.sha256("\n".join([platform.machine(), *lines]).encode()).hexdigest()[:16]


@functools.cache
def compiler_fingerprint() -> str:
    """A hash of sparsile's own source files: a changed pass must not reuse old artifacts."""
    import importlib

    h = hashlib.sha256()
    for name in ("sparsile", "sparsile.cli", "sparsile.dialects", "sparsile.passes", "sparsile.runtime"):
        (root,) = importlib.import_module(name).__path__  # subpackages may live elsewhere (editable installs)
        for path in sorted(Path(root).glob("*.py")):
            h.update(f"{name}/{path.name}".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(module_bytecode: bytes, settings: dict[str, Any]) -> str:
    """The key of a compile: sparsile version and sources, IR bytecode, settings, host CPU, environment."""
    from .versions import tool_versions

    h = hashlib.sha256()
    h.update(json.dumps(tool_versions(), sort_keys=True).encode())
    h.update(compiler_fingerprint().encode())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(json.dumps(environment.output_affecting(), sort_keys=True).encode())
    if settings.get("target_chip") == "host":
        h.update(host_cpu().encode())
    h.update(module_bytecode)
    return ENTRY_PREFIX + h.hexdigest()[:40]


class ArtifactCache:
    """A directory of compiled artifacts."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else environment.cache_dir()

    def load(self, key: str, output_tree: Any = None) -> Any | None:
        """The cached CompiledModel of ``key``, or None (a damaged entry is removed)."""
        from .artifact import load

        entry = self.root / key
        if not entry.is_dir():
            stats.misses += 1
            return None
        try:
            compiled = load(entry, output_tree)
        except ArtifactError:
            shutil.rmtree(entry, ignore_errors=True)
            stats.misses += 1
            return None
        stats.hits += 1
        return compiled

    def store(self, key: str, compiled: Any) -> None:
        """Add ``compiled`` under ``key`` atomically; an existing entry wins."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=self.root))
        try:
            compiled.save(staging)
            try:
                os.rename(staging, self.root / key)
                stats.stores += 1
                stats.keys.append(key)
            except OSError:  # another process stored the same key first
                pass
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
