"""Shared fixtures: the example models, and running the sparsile CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))


def _host_runs_bitmask() -> bool:
    from sparsile.targets import resolve_target

    return bool({"vector-expand", "vector-permute"} & set(resolve_target("cpu").features))


#: Whether this host's ``cpu`` target runs ``bitmask`` (AVX-512 VBMI2 or AVX2); elsewhere the
#: format is not a candidate and a layer asked to use it stays dense, saying so.
HOST_BITMASK = _host_runs_bitmask()
#: The fallback reason's tail on a host without either.
LACKS_BITMASK = "(bitmask needs AVX-512 VBMI2 (vector-expand) or AVX2 (vector-permute), which target cpu:host lacks)"


@pytest.fixture(scope="session", autouse=True)
def one_cost_model_on_every_host():
    """The suite schedules with the AVX-512 fit whatever the host's vector ISA (unless
    SPARSILE_COST_MODEL names one): tests that assert a storage choice must choose alike on
    every CI machine. Which fit a host's compiles load is tested in test_calibrate.py."""
    from sparsile.passes.cost_model import FALLBACK_ISA, checked_in_file

    os.environ.setdefault("SPARSILE_COST_MODEL", str(checked_in_file(FALLBACK_ISA)))
    yield


@pytest.fixture(scope="session", autouse=True)
def private_artifact_cache(tmp_path_factory):
    """Every test session (and the CLI processes it starts) gets an empty artifact cache of its own."""
    os.environ["SPARSILE_CACHE_DIR"] = str(tmp_path_factory.mktemp("sparsile-cache"))
    yield


def run_cli(*args: str, stdin: str | None = None, check: bool = False, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m sparsile ARGS`` in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-m", "sparsile", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore::FutureWarning"},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"sparsile {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def filecheck(text: str, checks: str, *options: str) -> None:
    """Assert ``text`` matches the FileCheck patterns in ``checks`` (a string of CHECK lines)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".checks", delete=False) as f:
        f.write(checks)
        path = f.name
    try:
        result = subprocess.run(
            [sys.executable, "-m", "filecheck", path, *options], input=text, capture_output=True, text=True
        )
    finally:
        os.unlink(path)
    assert result.returncode == 0, f"FileCheck failed:\n{result.stdout}\n{result.stderr}\n--- input ---\n{text[:4000]}"


@pytest.fixture(scope="session")
def models():
    import models as example_models

    return example_models
