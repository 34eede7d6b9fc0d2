"""Runs every ``tests/ir/*.mlir`` file by its ``// RUN:`` lines, lit style.

``%s`` is the file itself; ``sparsile`` and ``filecheck`` run as ``python -m``
of this interpreter, so the test uses the installed sparsile and the Python
FileCheck. Every RUN line must exit 0.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

IR_DIR = Path(__file__).parent / "ir"
FILES = sorted(IR_DIR.glob("*.mlir"))


def run_lines(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("// RUN:"):
            lines.append(stripped.removeprefix("// RUN:").strip())
    return lines


def expand(command: str, path: Path) -> str:
    python = shlex.quote(sys.executable)
    parts = []
    for stage in command.split("|"):
        words = stage.strip().split(maxsplit=1)
        tool, rest = words[0], (words[1] if len(words) > 1 else "")
        if tool in ("sparsile", "filecheck"):
            tool = f"{python} -m {tool}"
        elif tool == "not":
            inner, _, tail = rest.partition(" ")
            tool = f"! {python} -m {inner}" if inner in ("sparsile", "filecheck") else f"! {inner}"
            rest = tail
        parts.append(f"{tool} {rest}".replace("%s", shlex.quote(str(path))))
    return " | ".join(parts)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_ir_file(path: Path) -> None:
    commands = run_lines(path)
    assert commands, f"{path.name} has no // RUN: line"
    for command in commands:
        shell = expand(command, path)
        result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True)
        assert result.returncode == 0, f"RUN: {command}\n$ {shell}\n{result.stdout}\n{result.stderr}"
