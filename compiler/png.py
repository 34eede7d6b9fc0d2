"""A minimal PNG writer for report heatmaps (8-bit RGB, no dependencies)."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_rgb(pixels: np.ndarray) -> bytes:
    """PNG bytes of an ``[H, W, 3]`` uint8 image."""
    height, width, channels = pixels.shape
    if channels != 3 or pixels.dtype != np.uint8:
        raise ValueError("encode_rgb expects an [H, W, 3] uint8 array")
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * 3)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + _chunk(b"IEND", b"")


def heatmap(density: np.ndarray, min_pixels: int = 160) -> bytes:
    """A PNG of a ``[h, w]`` density map in [0, 1]: white is empty, dark blue is full."""
    scale = max(1, -(-min_pixels // max(density.shape)))
    d = np.clip(density, 0.0, 1.0)[:, :, None]
    empty, full = np.array([255, 255, 255], float), np.array([16, 42, 120], float)
    image = (empty + (full - empty) * d).astype(np.uint8)
    return encode_rgb(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1))
