"""Weight-only quantization schemes: symmetric, round to nearest even, zeros stay zeros.

``int8``: one float32 scale per output row, ``max|w| / 127``. ``int4-g128``: one scale
per 128 consecutive input columns of a row, ``max|w| / 7``. A weight is ``q * scale``
with ``q = round(w / scale)`` (``numpy.round``, like ``torch.round``: halves to even),
so a zero stays zero and the largest magnitude of a row or group is exact. Storage
formats hold ``q`` (int4 two per byte, the even column in the low nibble) and the
scales; kernels multiply in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernel_values import Quantization

#: The scheme names ``quantize=`` takes, and what each stores.
SCHEMES: dict[str, Quantization] = {"int8": Quantization(bits=8), "int4-g128": Quantization(bits=4, group=128)}


def scheme(name: str) -> Quantization:
    """The quantization called ``name``; ValueError lists the known ones."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown quantization '{name}'; expected one of {', '.join(SCHEMES)}") from None


def scheme_name(quant: Quantization) -> str:
    """The name of ``quant`` (its key in :data:`SCHEMES`)."""
    return next(name for name, q in SCHEMES.items() if q == quant)


@dataclass(frozen=True)
class Quantized:
    """A weight as integers and scales: ``q [N, K]`` (int8, in ``[-2^(b-1), 2^(b-1) - 1]``) and
    ``scales`` (``[N]`` for a scale per row, ``[N, ceil(K / group)]`` per group)."""

    q: np.ndarray
    scales: np.ndarray
    quant: Quantization

    def dequantized(self) -> np.ndarray:
        """``q * scale`` as float32, ``[N, K]``."""
        return dequantize(self.q, self.scales, self.quant)


def quantize(weight: np.ndarray, quant: Quantization) -> Quantized:
    """``weight [N, K]`` quantized with ``quant``."""
    w = np.asarray(weight, dtype=np.float32)
    n, k = w.shape
    limit = float(2 ** (quant.bits - 1) - 1)
    if quant.group:
        groups = -(-k // quant.group)
        padded = np.zeros((n, groups * quant.group), np.float32)
        padded[:, :k] = w
        scales = (np.abs(padded.reshape(n, groups, quant.group)).max(axis=2) / limit).astype(np.float32)
        expanded = np.repeat(scales, quant.group, axis=1)[:, :k]
    else:
        scales = (np.abs(w).max(axis=1, initial=0.0) / limit).astype(np.float32)
        expanded = scales[:, None]
    safe = np.where(expanded == 0, np.float32(1.0), expanded)
    q = np.clip(np.round(w / safe), -limit - 1, limit).astype(np.int8)
    return Quantized(q, scales, quant)


def dequantize(q: np.ndarray, scales: np.ndarray, quant: Quantization) -> np.ndarray:
    """The float32 weight of ``q`` and ``scales``."""
    q32 = q.astype(np.float32)
    if quant.group:
        return q32 * np.repeat(scales, quant.group, axis=1)[:, : q.shape[1]]
    return q32 * scales[:, None]


def pack_nibbles(q: np.ndarray) -> np.ndarray:
    """int4 values (int8 in ``[-8, 7]``, even length along the last axis) two per byte, the even one low."""
    low = q[..., 0::2].astype(np.uint8) & 0xF
    high = q[..., 1::2].astype(np.uint8) & 0xF
    return (low | (high << 4)).view(np.int8)


def unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    """The int8 values of :func:`pack_nibbles` bytes (twice as long along the last axis)."""
    b = packed.view(np.uint8)
    low = ((b & 0xF) ^ 8).astype(np.int16) - 8
    high = ((b >> 4) ^ 8).astype(np.int16) - 8
    out = np.empty((*b.shape[:-1], 2 * b.shape[-1]), np.int8)
    out[..., 0::2] = low
    out[..., 1::2] = high
    return out
