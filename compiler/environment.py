"""Every environment variable sparsile reads, declared once, with whether it changes output.

Variables that change what a compile produces are part of the artifact cache key;
the others only change where things go or whether the cache is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EnvVar:
    name: str
    changes_output: bool
    doc: str

    def get(self, default: str = "") -> str:
        return os.environ.get(self.name, default)


CACHE_DIR = EnvVar("SPARSILE_CACHE_DIR", False, "directory of the artifact cache (default ~/.cache/sparsile)")
ALWAYS_COMPILE = EnvVar("SPARSILE_ALWAYS_COMPILE", False, "1: never read the artifact cache (still writes it)")
NO_CACHE = EnvVar("SPARSILE_NO_CACHE", False, "1: neither read nor write the artifact cache")

COST_MODEL = EnvVar("SPARSILE_COST_MODEL", True, "a cost coefficient file from benchmarks/calibrate.py (default: the checked-in one)")

VARIABLES: tuple[EnvVar, ...] = (CACHE_DIR, ALWAYS_COMPILE, NO_CACHE, COST_MODEL)


def flag(var: EnvVar) -> bool:
    return var.get().strip().lower() in ("1", "true", "yes", "on")


def cache_dir() -> Path:
    """Where compiled artifacts are cached."""
    configured = CACHE_DIR.get()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sparsile"


def output_affecting() -> dict[str, str]:
    """The values of the variables that change compile output (for cache keys)."""
    return {v.name: v.get() for v in VARIABLES if v.changes_output}
