"""The on-disk artifact cache: compiled models keyed by a hash of everything that shapes them.

The key covers the sparsile version and a hash of its source files, the module's
starting bytecode, the resolved pipeline of every stage still to run (each pass
with its options, so every option that reaches a pass is in it), the IREE flags,
the host CPU when compiling for it, and the output-affecting environment
variables. An entry is an artifact directory ``<key>/``. It is written into a
private temporary directory and renamed into place, so readers never see a partial
entry and concurrent writers of the same key leave exactly one (the losers discard
theirs). A damaged entry is a miss and is replaced. A cache that cannot be used (a
read-only directory, a path that is a file) is a :class:`~sparsile.CacheWarning`
and the compile goes on without it.
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
from .errors import ArtifactError, CacheWarning, warn_user

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
    root = Path(__file__).resolve().parent
    packages = [root, root / "cli"]
    import importlib

    for name in ("sparsile.dialects", "sparsile.passes", "sparsile.passes.formats", "sparsile.runtime"):
        packages.append(Path(next(iter(importlib.import_module(name).__path__))))
    h = hashlib.sha256()
    for directory in packages:
        for path in sorted(directory.glob("*.py")):
            h.update(f"{directory.name}/{path.name}".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(source_digest: str, plan: dict[str, Any], target_chip: str | None = None) -> str:
    """The key of a compile: sparsile version and sources, the sha256 of the IR's bytecode, resolved plan, host CPU, environment."""
    from .versions import tool_versions

    h = hashlib.sha256()
    h.update(json.dumps(tool_versions(), sort_keys=True).encode())
    h.update(compiler_fingerprint().encode())
    h.update(json.dumps(plan, sort_keys=True, default=str).encode())
    h.update(json.dumps(environment.output_affecting(), sort_keys=True).encode())
    from .passes.cost_model import model_digest

    h.update(model_digest().encode())  # the coefficients decide storage formats
    if any("target-cpu=host" in str(flag) for stage in plan.get("stages", []) for flag in stage[1]):
        h.update(host_cpu().encode())
    h.update(source_digest.encode())
    return ENTRY_PREFIX + h.hexdigest()[:40]


class ArtifactCache:
    """A directory of compiled artifacts."""

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def open(cls, root: Path | None = None) -> ArtifactCache | None:
        """The cache at ``root`` (default: ``SPARSILE_CACHE_DIR`` or ``~/.cache/sparsile``), or None after a warning."""
        path = Path(root) if root is not None else environment.cache_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            _warn(f"the artifact cache {path} is a file, not a directory; set {environment.CACHE_DIR.name} to a directory")
            return None
        except OSError as err:
            _warn(f"the artifact cache {path} cannot be created ({err.strerror or err})")
            return None
        if not os.access(path, os.W_OK | os.X_OK):
            _warn(f"the artifact cache {path} is not writable; set {environment.CACHE_DIR.name} to a writable directory")
            return None
        return cls(path)

    def load(self, key: str) -> Any | None:
        """The cached CompiledModel of ``key``, or None (a damaged entry is removed)."""
        from .compiled_model import CompiledModel
        from .runtime import open_model

        entry = self.root / key
        if not entry.is_dir():
            stats.misses += 1
            return None
        try:
            compiled = open_model(entry, CompiledModel)
        except ArtifactError:
            shutil.rmtree(entry, ignore_errors=True)
            stats.misses += 1
            return None
        stats.hits += 1
        return compiled

    def store(self, key: str, compiled: Any) -> None:
        """Add ``compiled`` under ``key`` atomically; an existing entry wins. Failing to store is a warning."""
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=self.root))
        except OSError as err:
            _warn(f"the artifact cache {self.root} cannot be written ({err.strerror or err})")
            return
        try:
            compiled.save(staging)
            try:
                os.rename(staging, self.root / key)
                stats.stores += 1
                stats.keys.append(key)
            except OSError:  # another process stored the same key first
                pass
        except ArtifactError as err:
            _warn(f"the artifact could not be stored in the cache {self.root}: {err}")
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def _warn(message: str) -> None:
    warn_user(f"{message}; compiling without the artifact cache", CacheWarning)
