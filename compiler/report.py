"""The per-layer sparsity report: what each weight looks like and how it is stored.

Rows are read off the ``kernels`` stage (:mod:`sparsile.report_ir`): every
``sparsile.matmul`` kernel op, whose storage the row measures, and every weight
constant that ``detect-sparsity`` recorded but no kernel took. The same rows go
into the manifest (``layers``), ``CompiledModel.report``, ``sparsile report`` and the
HTML report, where each sparse layer's mask is drawn as a block-averaged heatmap.
This module is plain data and rendering (numpy only), so a loaded artifact's report
needs no compiler.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .png import heatmap


def speedup_class(speedup: float) -> str:
    """A coarse label for a predicted speed-up over dense."""
    if speedup < 1.15:
        return "none"
    if speedup < 1.5:
        return "small"
    if speedup < 3.0:
        return "moderate"
    return "large"


@dataclass
class LayerReport:
    """One weight: its shape, measured structure, the chosen storage and what it saves."""

    name: str
    shape: tuple[int, int]
    density: float
    detected: str
    pattern: str
    format: str
    source: str
    dense_flops: float
    sparse_flops: float
    dense_bytes: float
    sparse_bytes: float
    speedup: str
    storage: str = ""
    stored_values: int = 0
    predicted_us: float = 0.0
    dense_predicted_us: float = 0.0
    fallback: str = ""
    density_map: dict[str, Any] = field(default_factory=dict)

    def heatmap_png(self) -> bytes | None:
        """The mask heatmap as PNG bytes (None when no map was recorded)."""
        if not self.density_map:
            return None
        h, w = self.density_map["shape"]
        cells = np.frombuffer(base64.b64decode(self.density_map["data"]), np.uint8).reshape(h, w)
        return heatmap(cells / 255.0)


_COLUMNS = ("layer", "shape", "density", "detected", "pattern", "by", "stored as", "MFLOP dense/sparse", "KiB dense/stored", "speed-up")


class SparsityReport:
    """The rows of a model's report, with terminal, JSON and HTML renderings."""

    def __init__(self, layers: list[LayerReport]):
        self.layers = layers

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, name: str) -> LayerReport:
        for layer in self.layers:
            if layer.name == name or layer.name == f"{name}.weight":
                return layer
        raise KeyError(f"no layer '{name}' in the report; layers: {', '.join(l.name for l in self.layers)}")

    def to_json(self) -> list[dict[str, Any]]:
        """Plain JSON values (the manifest's ``layers``)."""
        return [{**dataclasses.asdict(layer), "shape": list(layer.shape)} for layer in self.layers]

    @classmethod
    def from_json(cls, rows: list[dict[str, Any]]) -> SparsityReport:
        known = {f.name for f in dataclasses.fields(LayerReport)}
        return cls([LayerReport(**{k: v for k, v in row.items() if k in known} | {"shape": tuple(row["shape"])}) for row in rows])

    def _cells(self, layer: LayerReport) -> tuple[str, ...]:
        chosen = layer.format + (" (fallback)" if layer.fallback else "")
        return (
            layer.name,
            f"{layer.shape[0]}x{layer.shape[1]}",
            f"{layer.density:.3f}",
            layer.detected,
            layer.pattern,
            layer.source,
            chosen,
            f"{layer.dense_flops / 1e6:.1f}/{layer.sparse_flops / 1e6:.1f}",
            f"{layer.dense_bytes / 1024:.0f}/{layer.sparse_bytes / 1024:.0f}",
            layer.speedup,
        )

    def table(self) -> str:
        """A fixed-width table for the terminal."""
        if not self.layers:
            return "no matmul or convolution weights found"
        rows = [_COLUMNS, *(self._cells(layer) for layer in self.layers)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        notes = [f"  {l.name}: {l.format}: {l.storage}" for l in self.layers if l.storage and not l.fallback]
        notes += [f"  {l.name}: dense fallback: {l.fallback}" for l in self.layers if l.fallback]
        return "\n".join(lines + notes)

    def write_html(self, path: str | Path, title: str = "sparsile sparsity report") -> Path:
        """An HTML page with the table and one mask heatmap per sparse layer."""
        out = Path(path)
        rows, figures = [], []
        for layer in self.layers:
            rows.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in self._cells(layer)) + "</tr>")
            png = layer.heatmap_png() if layer.density < 1.0 else None
            if png is not None:
                data = base64.b64encode(png).decode()
                figures.append(
                    f'<figure><img alt="mask of {html.escape(layer.name)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(layer.name)}: {html.escape(layer.detected)}</figcaption></figure>"
                )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in _COLUMNS)
        out.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
            "figure{display:inline-block;margin:8px}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table><tr>{head}</tr>{''.join(rows)}</table>"
            f"<h2>Masks (white = empty, blue = nonzero)</h2>{''.join(figures)}</body></html>\n"
        )
        return out
