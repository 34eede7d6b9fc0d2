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


def _measured(layer: LayerReport) -> str:
    return f"{layer.measured_us:.3g}/{layer.dense_measured_us:.3g}" if layer.dense_measured_us else ""


def _predicted(layer: LayerReport) -> str:
    if layer.dense_measured_us and not layer.dense_predicted_us:
        return ""  # tuned: measured instead
    if not layer.dense_predicted_us:
        return "unmeasured" if layer.format != "dense" else ""
    return f"{layer.predicted_us:.3g}/{layer.dense_predicted_us:.3g}"


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
    #: How the values are stored: the weight's float type (f32, f16, bf16) or a quantization (int8, int4-g128).
    precision: str = ""
    #: Measured on the compiling machine when the compile was tuned (``tune=True``): the kept storage and dense.
    measured_us: float = 0.0
    dense_measured_us: float = 0.0
    #: The function whose kernel this row describes, in a module that exports several (a causal LM's
    #: ``decode`` and ``prefill``, which see different row counts); empty otherwise.
    function: str = ""

    @property
    def label(self) -> str:
        """The layer's name, with its function where the module exports several."""
        return f"{self.name} [{self.function}]" if self.function else self.name

    @property
    def bits_per_weight(self) -> float:
        """Bits stored per element of the weight's full shape (values, indices, masks and scales together)."""
        return 8.0 * self.sparse_bytes / (self.shape[0] * self.shape[1])

    def heatmap_png(self) -> bytes | None:
        """The mask heatmap as PNG bytes (None when no map was recorded)."""
        if not self.density_map:
            return None
        h, w = self.density_map["shape"]
        cells = np.frombuffer(base64.b64decode(self.density_map["data"]), np.uint8).reshape(h, w)
        return heatmap(cells / 255.0)


_COLUMNS = ("layer", "shape", "density", "detected", "pattern", "by", "stored as", "MFLOP dense/sparse", "KiB dense/stored", "speed-up",
            "values", "bits/weight")


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
            layer.label,
            f"{layer.shape[0]}x{layer.shape[1]}",
            f"{layer.density:.3f}",
            layer.detected,
            layer.pattern,
            layer.source,
            chosen,
            f"{layer.dense_flops / 1e6:.1f}/{layer.sparse_flops / 1e6:.1f}",
            f"{layer.dense_bytes / 1024:.0f}/{layer.sparse_bytes / 1024:.0f}",
            layer.speedup,
            layer.precision,
            f"{layer.bits_per_weight:.2f}",
        )

    def table(self) -> str:
        """A fixed-width table for the terminal."""
        if not self.layers:
            return "no matmul or convolution weights found"
        rows = [_COLUMNS, *(self._cells(layer) for layer in self.layers)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        notes = [f"  {l.label}: {l.format}: {l.storage}" for l in self.layers if l.storage and not l.fallback]
        notes += [f"  {l.label}: dense fallback: {l.fallback}" for l in self.layers if l.fallback]
        notes += [f"  {l.label}: tuned: {l.measured_us:.3g} us as {l.format}, {l.dense_measured_us:.3g} us dense" for l in self.layers if l.dense_measured_us]
        return "\n".join(lines + notes)

    def summary(self) -> dict[str, Any]:
        """Model totals: weights, parameters, sparsity, bytes dense vs stored, predicted time dense vs sparse.

        Where several functions read a weight, it counts once, a storage each function keeps
        counts once, and times are those of the first function's calls (a causal LM's ``decode``).
        """
        weights = list({l.name: l for l in reversed(self.layers)}.values())
        stored = {(l.name, l.format, l.sparse_bytes): l.sparse_bytes for l in self.layers}
        calls = [l for l in self.layers if l.function == self.layers[0].function] if self.layers else []
        params = sum(l.shape[0] * l.shape[1] for l in weights)
        nonzeros = sum(l.density * l.shape[0] * l.shape[1] for l in weights)
        predicted = [l for l in calls if l.dense_predicted_us]
        tuned = any(l.dense_measured_us for l in calls)
        return {
            "weights": len(weights),
            "sparse_weights": sum(1 for l in weights if l.format != "dense"),
            "parameters": params,
            "sparsity": 1.0 - nonzeros / params if params else 0.0,
            "dense_bytes": sum(l.dense_bytes for l in weights),
            "stored_bytes": sum(stored.values()),
            "precisions": sorted({l.precision for l in self.layers if l.precision}),
            # Only layers with predictions: a dense layer predicts its dense time both ways.
            "predicted_us": sum(l.predicted_us for l in predicted) if predicted else None,
            "dense_predicted_us": sum(l.dense_predicted_us for l in predicted) if predicted else None,
            "measured_us": sum(l.measured_us for l in calls) if tuned else None,
            "dense_measured_us": sum(l.dense_measured_us for l in calls) if tuned else None,
            "unpredicted_weights": len(calls) - len(predicted),
        }

    def write_html(self, path: str | Path, title: str = "sparsile sparsity report", target: str | None = None) -> Path:
        """An HTML page: the model's summary, the table with predicted times, and one mask per sparse layer
        (drawn with the weight's aspect ratio; rows are output features, columns input features)."""
        out = Path(path)
        rows, figures, drawn = [], [], set()
        for layer in self.layers:
            cells = (*self._cells(layer), _predicted(layer), _measured(layer))
            rows.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in cells) + "</tr>")
            png = layer.heatmap_png() if layer.density < 1.0 and layer.name not in drawn else None
            drawn.add(layer.name)
            if png is not None:
                data = base64.b64encode(png).decode()
                out_f, in_f = layer.shape
                figures.append(
                    f'<figure><div class="x">in features 0..{in_f - 1} &rarr;</div><div class="row">'
                    f'<div class="y">out features 0..{out_f - 1} &rarr;</div>'
                    f'<img alt="mask of {html.escape(layer.name)}" src="data:image/png;base64,{data}"></div>'
                    f"<figcaption>{html.escape(layer.name)} [{out_f}x{in_f}]: {html.escape(layer.detected)}</figcaption></figure>"
                )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in (*_COLUMNS, "predicted us sparse/dense", "measured us sparse/dense"))
        out.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
            "figure{display:inline-block;margin:8px;vertical-align:top}.row{display:flex;align-items:flex-start}"
            ".x{font-size:small;margin-left:1.5em}.y{font-size:small;writing-mode:vertical-rl}"
            "img{image-rendering:pixelated;border:1px solid #999}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{self._summary_html(target)}<table><tr>{head}</tr>{''.join(rows)}</table>"
            "<h2>Masks (white = empty, blue = nonzero; removed rows and channels are white)</h2>"
            f"{''.join(figures)}</body></html>\n"
        )
        return out

    def _summary_html(self, target: str | None) -> str:
        s = self.summary()
        items = [
            ("target", target or "not recorded"),
            ("weights", f"{s['weights']} ({s['sparse_weights']} stored sparse), {s['parameters']:,} parameters"),
            ("sparsity", f"{s['sparsity']:.1%} zeros"),
            ("bytes dense / stored", f"{s['dense_bytes'] / 2**20:.2f} MiB / {s['stored_bytes'] / 2**20:.2f} MiB"),
            ("values stored as", ", ".join(s["precisions"]) or "not recorded"),
        ]
        if s["parameters"]:
            items.append(("bits per weight", f"{8 * s['stored_bytes'] / s['parameters']:.2f} (dense: {8 * s['dense_bytes'] / s['parameters']:.2f})"))
        if s["predicted_us"] is not None:
            note = f" ({s['unpredicted_weights']} weights without a prediction)" if s["unpredicted_weights"] else ""
            items.append(("predicted time dense / sparse", f"{s['dense_predicted_us']:.1f} us / {s['predicted_us']:.1f} us{note}"))
        elif s["measured_us"] is None:
            items.append(("predicted time", "none (no measured cost for these kernels on this target)"))
        if s["measured_us"] is not None:
            items.append(("measured time dense / sparse (tuned)", f"{s['dense_measured_us']:.1f} us / {s['measured_us']:.1f} us"))
        return "<table class='summary'>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in items) + "</table>"
