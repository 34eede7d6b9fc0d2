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


#: Fitted on llvm-cpu (2 threads, AVX-512). Dense: ~95 ps per weight streamed, ~13 ps per
#: multiply-add; CSR (K-blocked dispatch) ~0.55 ns per nonzero and ~26 ps per row;
#: N:M ~0.14 ns / 18 ps; BSR (gather + batched matmul) ~0.15 ns / 20 ps per stored value.
COEFFICIENTS: dict[Format, Coefficients] = {
    Format.DENSE: Coefficients(95e-12, 13e-12),
    Format.CHANNELS: Coefficients(95e-12, 13e-12),
    Format.CSR: Coefficients(550e-12, 26e-12),
    Format.NM: Coefficients(140e-12, 18e-12),
    Format.BSR: Coefficients(150e-12, 20e-12),
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
