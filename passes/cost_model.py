"""The cost model: predicted time of a weight's matmul in a storage format.

A roofline: time = max(FLOPs / (peak * efficiency), bytes / bandwidth), where
the efficiency of a sparse format says how far its kernels stay from dense
GEMM throughput. The defaults are this project's measurements on 2 AVX-512
cores (DESIGN.md section 7: about 200 GFLOP/s, about 40 GB/s).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dialects.formats import Pattern

PEAK_FLOPS = 200e9
BANDWIDTH = 40e9

#: Fraction of dense GEMM throughput each kernel reaches (DESIGN.md section 3 probes).
EFFICIENCY = {"dense": 1.0, "channels": 1.0, "bsr": 0.8, "nm": 0.35, "csr": 0.3}


@dataclass(frozen=True)
class Cost:
    """FLOPs, bytes moved and the predicted seconds of one call."""

    flops: float
    bytes: float
    seconds: float


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
    efficiency = EFFICIENCY[Pattern.parse(fmt).format.value]
    seconds = max(flops / (PEAK_FLOPS * efficiency), moved / BANDWIDTH)
    return Cost(flops, moved, seconds)


def speedup_class(speedup: float) -> str:
    """A coarse label for a predicted speed-up over dense."""
    if speedup < 1.15:
        return "none"
    if speedup < 1.5:
        return "small"
    if speedup < 3.0:
        return "moderate"
    return "large"
