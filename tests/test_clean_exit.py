"""Programs that use sparsile exit cleanly: no crash, no nanobind "leaked" noise."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import EXAMPLES

SCRIPT = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(EXAMPLES)!r})
    import models, sparsile
    model, args = models.mlp()
    compiled = sparsile.compile(model, args)
    KEPT_RESULT = compiled(*args)          # a result kept alive until exit
    KEPT_NUMPY = compiled(args[0].numpy())
    SECOND = sparsile.compile(model, args) # two live modules on one device
    SECOND(*args)
    print("ok")
    """
)


def test_exit_is_clean_with_live_objects():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert "leak" not in result.stderr.lower(), result.stderr
