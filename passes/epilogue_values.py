"""The kernels' epilogue activations on numpy arrays, for passes that reason about constant values.

They compute what :func:`sparsile.passes.epilogue_ir.activate` emits (GELU-tanh as
``x * sigmoid(2u)``), in the precision of the array given.
"""

from __future__ import annotations

import math

import numpy as np


def activate_array(activation: str, x: np.ndarray) -> np.ndarray | None:
    """``activation`` (an epilogue's: none, relu, gelu, gelu_tanh, silu) of ``x``; None for an unknown one."""
    with np.errstate(over="ignore"):
        if activation == "none":
            return x
        if activation == "relu":
            return np.maximum(x, 0)
        if activation == "silu":
            return x / (1 + np.exp(-x))
        if activation == "gelu":
            erf = np.vectorize(math.erf, otypes=[np.float64])
            return (0.5 * x * (1 + erf(x / math.sqrt(2.0)))).astype(x.dtype)
        if activation == "gelu_tanh":
            u = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
            return x / (1 + np.exp(-2 * u))
    return None
