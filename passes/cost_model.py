"""The cost model: predicted time of one weight's matmul in a storage format, from measured coefficients.

A kernel costs ``fixed + bytes * per_byte + positions * per_position + stored * (per_value + per_row * M + per_block * blocks)``
seconds for a storage of ``bytes`` bytes holding ``stored`` values (nonzeros, kept
values, the whole weight for dense), visiting ``positions`` weight positions zeros included
(only a bitmask's kernel does: it expands every tile) and ``M`` input rows (the rows the kernel computes,
padding included): a cost per call, a cost per byte streamed (so a float16, int8 or int4
weight, and narrower indices, cost less than a float32 one of the same pattern: the
crossover points move with the precision), a cost to decode a value, a cost per value
and row (the multiply-adds), and for kernels that stream the weight once per activation
block a cost per value and block. A kernel that streams the weight per activation block
costs about the same at 4 rows as at 16 (it is bound by the stream, not the multiply-adds)
and then grows with the rows: its entry holds a second fit, ``few_rows``, that predicts up
to ``max_rows`` computed rows (a ``sympy.Piecewise``). The
coefficients of every (format, kernel) pair come from ``benchmarks/calibrate.py``,
which times the kernels on a machine and fits them. Its output is checked in once per
vector instruction set, ``cost_models/<isa>.json`` beside this module (``avx512``,
``avx2``: the kernels' costs and the crossovers differ between them, so a fit serves
the CPUs of its own set); a compile uses the file of the host's set, the ``avx512`` one
where the host's has none, and ``SPARSILE_COST_MODEL`` names another file. A kernel that was never timed (the GPU
kernels, until ``benchmarks/gpu.py`` has run on a GPU) is marked ``unmeasured``: it
predicts nothing, and ``schedule`` does not guess for it. Costs are sympy expressions in M, so the
batch size where sparse stops paying can be solved for.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import sympy

from .. import environment, targets
from ..errors import SparsileError

M = sympy.Symbol("M", positive=True)

#: A sparse kernel must be predicted at least this much faster than dense to be chosen.
MARGIN = 0.9

#: The checked-in fits, one file per vector instruction set (``<isa>.json``).
MODELS_DIR = Path(__file__).with_name("cost_models")
#: The set whose fit serves a host with no fit of its own.
FALLBACK_ISA = "avx512"
COST_MODEL_ENV = environment.COST_MODEL.name


@dataclass(frozen=True)
class Coefficients:
    """One kernel's fitted costs, in seconds (see :func:`linear_cost` for what each multiplies)."""

    per_value: float
    per_row: float
    fixed: float = 0.0
    per_block: float = 0.0
    per_byte: float = 0.0
    #: Per weight position visited, zeros included (kernels that expand every tile of a mask).
    per_position: float = 0.0
    #: False for a kernel never timed (the file says ``"unmeasured": true``): it predicts nothing.
    measured: bool = True
    #: The fit that holds up to ``few_rows`` computed rows instead of this one (``few_rows`` in
    #: the file): a K-blocked kernel streams its weight at a floor cost below a few rows, which a
    #: line over all row counts does not follow.
    few: Coefficients | None = None
    few_rows: int = 0


def checked_in_file(isa: str) -> Path:
    """The checked-in fit measured on a CPU with vector instruction set ``isa`` (it may not exist)."""
    return MODELS_DIR / f"{isa}.json"


def coefficients_file() -> Path:
    """The coefficient file in use: ``SPARSILE_COST_MODEL``, else the checked-in fit of the host's
    vector instruction set (:func:`sparsile.targets.host_vector_isa`), else the ``avx512`` one."""
    configured = os.environ.get(COST_MODEL_ENV, "")
    if configured:
        return Path(configured).expanduser()
    return _checked_in_for(targets.host_vector_isa())


@functools.cache
def _checked_in_for(isa: str) -> Path:
    """``isa``'s checked-in fit, or the fallback one (cached: every cost lookup asks, and the files do not move)."""
    own = checked_in_file(isa)
    return own if own.exists() else checked_in_file(FALLBACK_ISA)


class _Loaded(NamedTuple):
    """A checked coefficient file."""

    table: dict[str, Any]
    digest: str
    #: The vector instruction set of the machine it was measured on (None where the file does not say).
    vector_isa: str | None
    #: Per (format, kernel) with measurements in the file, the precisions they were timed in.
    timed: dict[tuple[str, str], frozenset[str]]


#: Precisions a kernel widens to float32 like another one (bfloat16 by a shift, as cheap as
#: float16's conversion; calibrate.py times float16): that one's timings and fit serve it.
TIMED_AS = {"bf16": "f16"}


@functools.cache
def _load(path: Path) -> _Loaded:
    try:
        text = path.read_text()
        data = json.loads(text)
        table = data["coefficients"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SparsileError(f"cost model {path} cannot be read ({err}); rerun benchmarks/calibrate.py or unset {COST_MODEL_ENV}") from None
    from .formats import all_formats

    for fmt in all_formats():
        for kernel in fmt.kernels:
            entry = table.get(fmt.name, {}).get(kernel) if isinstance(table, dict) else None
            if not (isinstance(entry, dict) and all(isinstance(entry.get(k, 0.0), (int, float)) for k in ("per_value", "per_row", "fixed", "per_byte"))
                    and "per_value" in entry and "per_row" in entry):
                raise SparsileError(f"cost model {path} has no coefficients for format '{fmt.name}', kernel '{kernel}'; rerun benchmarks/calibrate.py")
    machine = data.get("machine")
    isa = machine.get("vector_isa") if isinstance(machine, dict) else None
    timed: dict[tuple[str, str], set[str]] = {}
    for sample in data.get("measurements") or ():
        if isinstance(sample, dict) and isinstance(sample.get("dtype"), str):
            timed.setdefault((str(sample.get("format")), str(sample.get("kernel"))), set()).add(sample["dtype"])
    return _Loaded(table, hashlib.sha256(text.encode()).hexdigest(), isa if isinstance(isa, str) else None,
                   {key: frozenset(precisions) for key, precisions in timed.items()})


def _entry(fmt: str, kernel: str, precision: str | None) -> dict[str, Any]:
    """``fmt``'s ``kernel`` entry, its fit for ``precision`` where the file has one (``by_precision``)."""
    table = _load(coefficients_file()).table
    entry = table[fmt][kernel]
    fits = entry.get("by_precision", {})
    own = (fits.get(precision) or fits.get(TIMED_AS.get(precision, ""))) if precision else None
    return {**entry, **own} if isinstance(own, dict) else entry


def coefficients(fmt: str, kernel: str, precision: str | None = None) -> Coefficients:
    """The fitted coefficients of ``fmt``'s ``kernel`` (the file was checked to hold every pair when loaded).

    ``precision`` names how the values are stored (``f32``, ``f16``, ``bf16``, ``int8``,
    ``int4-g128``): a kernel timed in several precisions has a fit of its own for each
    (the same kernel can be bound by bytes in one and by decoding in another), and the
    fit over all of them serves the others.

    A sparse kernel (not ``dense`` or ``channels``) the file holds timings of, none of them in
    ``precision`` (or the precision it is :data:`TIMED_AS`), is unmeasured in it unless that is
    float32: decoding int8 or int4 values can cost several times what a float value does (the
    csr K-blocked kernel timed in float32 only predicted an int4 layer at 4 rows faster than
    dense int4, and it ran at 1.9-2.4x its time), and so can widening float16 (the same kernel
    ran a float16 layer at 4 rows at 1.5-2.2x dense float16, predicted at 0.4-0.7).
    """
    entry = _entry(fmt, kernel, precision)
    timed = _load(coefficients_file()).timed.get((fmt, kernel))
    # dense and channels storage multiply with the dense kernels (on the kept rows and columns, for channels).
    untimed = (fmt not in ("dense", "channels") and precision not in (None, "f32") and timed is not None
               and precision not in timed and TIMED_AS.get(precision) not in timed)
    few = entry.get("few_rows")
    main = _fitted(entry)
    return dataclasses.replace(main, measured=not (entry.get("unmeasured", False) or untimed),
                               few=_fitted(few) if isinstance(few, dict) else None,
                               few_rows=int(few["max_rows"]) if isinstance(few, dict) else 0)


def _fitted(entry: dict[str, Any]) -> Coefficients:
    return Coefficients(float(entry["per_value"]), float(entry["per_row"]), float(entry.get("fixed", 0.0)), float(entry.get("per_block", 0.0)),
                        float(entry.get("per_byte", 0.0)), float(entry.get("per_position", 0.0)))


def relative_error(fmt: str, kernel: str, precision: str | None = None) -> float:
    """The median relative error of ``fmt``'s ``kernel`` fit over its calibration runs (0 when the file gives none)."""
    error = _entry(fmt, kernel, precision).get("median_relative_error", 0.0)
    return float(error) if isinstance(error, (int, float)) and 0.0 <= error < 1.0 else 0.0


def model_digest() -> str:
    """A hash of the coefficient file in use, after checking it (compiles with different models must not share a cache entry)."""
    return _load(coefficients_file()).digest


def calibrated_vector_isa() -> str | None:
    """The vector instruction set of the machine the coefficient file in use was measured on
    (``avx512``, ``avx2``, ...; see :func:`sparsile.targets.host_vector_isa`), None where the file does not say."""
    return _load(coefficients_file()).vector_isa


def linear_cost(stored: int, c: Coefficients, block: int = 0, nbytes: int = 0, positions: int = 0) -> sympy.Expr:
    """``fixed + nbytes * per_byte + positions * per_position + stored * (per_value + per_row * M + per_block * M / block)`` seconds.

    ``block`` is the kernel's activation block: a kernel that streams the weight once
    per block of ``block`` rows pays ``per_block`` per value and block (0: one pass).
    ``nbytes`` is the size of the storage the kernel reads, ``positions`` the weight
    positions it visits whether zero or not (a bitmask's tiles; 0 for the others).
    """
    blocks = M / block if block else 1
    cost = c.fixed + nbytes * c.per_byte + positions * c.per_position + stored * (c.per_value + c.per_row * M + c.per_block * blocks)
    if c.few is None:
        return cost
    return sympy.Piecewise((linear_cost(stored, c.few, block, nbytes, positions), M <= c.few_rows), (cost, True))


def at_rows(expr: sympy.Expr, rows: int) -> float:
    """The predicted seconds of ``expr`` at ``rows`` input rows."""
    return float(expr.subs(M, rows))


def crossover_rows(sparse: sympy.Expr, dense: sympy.Expr) -> float | None:
    """The fewest batch rows (at least one) where ``sparse`` and ``dense`` cost the same (None if they never do).

    Either may be piecewise (a ``few_rows`` fit): each piece's roots count where that piece holds.
    """
    difference = sympy.piecewise_fold(sparse - dense)
    pieces = difference.args if isinstance(difference, sympy.Piecewise) else ((difference, sympy.true),)
    found: list[float] = []
    earlier: list[Any] = []
    for expr, condition in pieces:
        for s in sympy.solve(sympy.Eq(expr, 0), M):
            # Piecewise takes the first piece whose condition holds: a root counts where its piece is the one taken.
            if s.is_real and s >= 1 and bool(condition.subs(M, s)) and not any(bool(c.subs(M, s)) for c in earlier):
                found.append(float(s))
        earlier.append(condition)
    return min(found) if found else None
