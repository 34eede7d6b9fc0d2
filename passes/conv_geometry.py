"""The geometry of a 2-D convolution as sparsile's kernels see it: window, strides, dilations.

A filter ``[F, C/G, KH, KW]`` is held as the ``[F, C/G*KH*KW]`` matrix its storage packs
(column ``(c * KH + i) * KW + j`` is input channel ``c`` of the filter's group, window row
``i``, window column ``j``), so every matrix storage format stores conv filters too, and an
input channel is a group of ``KH*KW`` consecutive columns. With ``G`` groups, filter ``f``
reads the input channels of group ``f // (F/G)`` only (a depthwise convolution: ``G = C =
F``, one channel per filter).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..dialects.sparsile_dialect import conv_output_size


@dataclass(frozen=True)
class ConvGeometry:
    """Window ``(KH, KW)``, strides ``(SH, SW)``, dilations ``(DH, DW)`` and channel groups of an NCHW convolution."""

    window: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def taps(self) -> int:
        """Filter positions per input channel (columns per channel of the filter matrix)."""
        return self.window[0] * self.window[1]


    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(OH, OW)`` over an already padded ``height x width`` input."""
        (kh, kw), (sh, sw), (dh, dw) = self.window, self.strides, self.dilations
        return conv_output_size(height, kh, sh, dh), conv_output_size(width, kw, sw, dw)

    def describe(self) -> str:
        """``3x3``, with ``/2`` for strides and ``d2`` for dilations other than 1."""
        text = f"{self.window[0]}x{self.window[1]}"
        if self.strides != (1, 1):
            text += f" stride {self.strides[0]}x{self.strides[1]}"
        if self.dilations != (1, 1):
            text += f" dilation {self.dilations[0]}x{self.dilations[1]}"
        if self.groups != 1:
            text += f" in {self.groups} groups"
        return text
