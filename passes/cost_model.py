"""The cost model: predicted time of one weight's matmul in a storage format.

A kernel costs ``stored * (per_value + per_row * M)`` seconds for ``stored`` values
streamed (nonzeros, kept values, the whole weight for dense) and ``M`` input rows: a
fixed cost to stream a value and its index, and a cost per value and input row (the
multiply-adds). Each storage format carries its coefficients
(:mod:`sparsile.passes.formats`); they are fitted to the kernels sparsile emits on
this project's 2-core AVX-512 machines (llvm-cpu) and rank formats, they do not
promise microseconds. Costs are sympy expressions in M, so the batch size where
sparse stops paying can be solved for.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

M = sympy.Symbol("M", positive=True)


@dataclass(frozen=True)
class Coefficients:
    """Seconds per stored value, and per stored value and input row: ``stored * (per_value + per_row * M)``."""

    per_value: float
    per_row: float


#: A sparse kernel must be predicted at least this much faster than dense to be chosen.
MARGIN = 0.9


def linear_cost(stored: int, c: Coefficients) -> sympy.Expr:
    """``stored * (per_value + per_row * M)`` seconds."""
    return stored * (c.per_value + c.per_row * M)


def at_rows(expr: sympy.Expr, rows: int) -> float:
    """The predicted seconds of ``expr`` at ``rows`` input rows."""
    return float(expr.subs(M, rows))


def crossover_rows(sparse: sympy.Expr, dense: sympy.Expr) -> float | None:
    """The batch rows where ``sparse`` and ``dense`` cost the same (None if they never do)."""
    solutions = sympy.solve(sympy.Eq(sparse, dense), M)
    real = [float(s) for s in solutions if s.is_real and s > 0]
    return real[0] if real else None
