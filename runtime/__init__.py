"""Running compiled sparsile artifacts with the IREE runtime."""

from __future__ import annotations

from .devices import get_device, release_all
from .loaded_module import LoadedModule

__all__ = ["LoadedModule", "get_device", "release_all"]
