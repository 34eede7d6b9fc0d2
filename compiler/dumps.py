"""Stage dumps: ``--dump-ir DIR`` writes each stage's IR as ``NN-<stage>.mlir``."""

from __future__ import annotations

from pathlib import Path

from .stages import dump_name


def write_stage_dump(directory: Path, stage: str, text: str) -> Path:
    """Write ``text`` as the dump of ``stage`` in ``directory`` and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / dump_name(stage)
    path.write_text(text)
    return path
