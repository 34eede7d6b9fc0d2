"""Versions of sparsile and the tools it builds with, recorded in every manifest."""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def tool_versions(**extra: str) -> dict[str, str]:
    versions = {
        "sparsile": __version__,
        "torch": _version("torch"),
        "torch-mlir": _version("torch-mlir"),
        "iree-base-compiler": _version("iree-base-compiler"),
        "iree-base-runtime": _version("iree-base-runtime"),
    }
    versions.update({k.replace("_", "-"): v for k, v in extra.items()})
    return versions
