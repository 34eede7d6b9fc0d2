"""``--verify-diagnostics``: check emitted diagnostics against ``expected-*`` comments.

The comment forms are MLIR's: ``// expected-error {{text}}`` on the line the
diagnostic points at, or ``// expected-error @+1 {{text}}`` / ``@-2`` for a line
relative to the comment. Every expectation must be met by a diagnostic of that
severity on that line whose message contains the text, and every error must be
expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .diagnostics import Diag

_EXPECTED = re.compile(r"expected-(error|warning|remark|note)\s*(?:@([+-]\d+|above|below))?\s*\{\{(.*?)\}\}")


@dataclass
class Expectation:
    severity: str
    line: int
    text: str
    comment_line: int
    met: bool = False


def parse_expectations(text: str, first_line: int = 1) -> list[Expectation]:
    """The ``expected-*`` comments of ``text``, whose first line is ``first_line``."""
    found = []
    for offset, line in enumerate(text.splitlines()):
        number = first_line + offset
        for m in _EXPECTED.finditer(line):
            where = m.group(2)
            delta = {"above": -1, "below": 1, None: 0}.get(where)
            if delta is None:
                delta = int(where)
            found.append(Expectation(m.group(1), number + delta, m.group(3), number))
    return found


def verify(expectations: list[Expectation], diags: list[Diag], source_name: str) -> list[str]:
    """Mismatches between expectations and diagnostics, as messages (empty means verified)."""
    problems = []
    for diag in diags:
        match = next(
            (
                e
                for e in expectations
                if not e.met and e.severity == diag.severity and e.line == diag.line and e.text in diag.message
            ),
            None,
        )
        if match is not None:
            match.met = True
        elif diag.severity in ("error", "warning"):
            problems.append(f"{diag.location}: unexpected {diag.severity}: {diag.message}")
    for e in expectations:
        if not e.met:
            problems.append(f"{source_name}:{e.comment_line}: expected {e.severity} \"{e.text}\" was not produced")
    return problems
