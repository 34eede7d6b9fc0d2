"""The cost model: predicted time of one weight's matmul, dense or in a sparse format.

Each kernel costs ``stored * (per_value + per_row * M)`` seconds for ``stored``
values of the weight (nonzeros, padded blocks, kept neurons) and ``M`` input rows:
a fixed cost to stream a value and its index, and a cost per value and input row
(the multiply-adds). Dense streams every weight once (memory bound at small M)
and then runs at GEMM throughput. The coefficients are fitted to measurements of
the kernels sparsile emits, on this project's 2-core AVX-512 machines (llvm-cpu);
they rank formats, they do not promise microseconds. Costs are sympy expressions
in M, so the batch size where sparse stops paying can be solved for.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..dialects.formats import Format, Pattern

M = sympy.Symbol("M", positive=True)


@dataclass(frozen=True)
class Coefficients:
    """Seconds per stored value, and per stored value and input row."""

    per_value: float
    per_row: float


#: Fitted on llvm-cpu (2 threads, AVX-512) from benchmarks/run.py on the MLP (1024-4096-4096-1024):
#: IREE's dense matmul ~330 ps per weight at batch 1 and ~21 ps per weight and row beyond;
#: the CSR dispatch ~700 ps per nonzero at batch 1 (u50 measured 1.07x dense there) and
#: ~30 ps per nonzero and row; blocks run through the same dispatch. N:M at batch 1 uses the
#: select kernel (~400 ps per nonzero), batched the CSR dispatch (~1.3 ns per nonzero at 32 rows).
COEFFICIENTS: dict[Format, Coefficients] = {
    Format.DENSE: Coefficients(330e-12, 21e-12),
    Format.CHANNELS: Coefficients(330e-12, 21e-12),
    Format.CSR: Coefficients(700e-12, 30e-12),
    Format.NM: Coefficients(400e-12, 28e-12),
    Format.BSR: Coefficients(700e-12, 30e-12),
}

#: A sparse kernel must be predicted at least this much faster than dense to be chosen.
MARGIN = 0.9


@dataclass(frozen=True)
class Cost:
    """FLOPs, bytes moved and predicted seconds of one call at a given M."""

    flops: float
    bytes: float
    seconds: float


def seconds_expr(fmt: Format, stored: int) -> sympy.Expr:
    """Predicted seconds of a kernel in ``fmt`` storing ``stored`` values, as an expression in M."""
    c = COEFFICIENTS[fmt]
    return stored * (c.per_value + c.per_row * M)


def matmul_cost(
    fmt: str,
    rows: int,
    stored_values: int,
    index_bytes: int,
    in_features: int,
    out_features: int,
    element_bytes: int = 4,
) -> Cost:
    """Cost of ``rows`` inputs times a weight storing ``stored_values`` entries (plus indices)."""
    flops = 2.0 * rows * stored_values
    moved = element_bytes * stored_values + index_bytes + element_bytes * rows * (in_features + out_features)
    seconds = float(seconds_expr(Pattern.parse(fmt).format, stored_values).subs(M, rows))
    return Cost(flops, moved, seconds)


def crossover_rows(fmt: Format, stored: int, dense_values: int) -> float | None:
    """The batch rows above which dense beats ``fmt`` (None if sparse always or never wins)."""
    solutions = sympy.solve(sympy.Eq(seconds_expr(fmt, stored), seconds_expr(Format.DENSE, dense_values)), M)
    real = [float(s) for s in solutions if s.is_real and s > 0]
    return real[0] if real else None


def speedup_class(speedup: float) -> str:
    """A coarse label for a predicted speed-up over dense."""
    if speedup < 1.15:
        return "none"
    if speedup < 1.5:
        return "small"
    if speedup < 3.0:
        return "moderate"
    return "large"
