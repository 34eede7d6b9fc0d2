"""The per-layer sparsity report: what each weight looks like and how it is compiled.

Rows are read off the ``kernels`` stage: every ``sparsile.*`` kernel op and every
weight constant that ``detect-sparsity`` recorded. The same rows go into the
manifest (``layers``), ``CompiledModel.report``, ``sparsile report`` and the HTML
report, where each sparse layer's mask is drawn as a block-averaged heatmap.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .constants import constant_array
from .mlir import ir
from .passes import sparsity_attr
from .passes.cost_model import matmul_cost, speedup_class
from .passes.ir_query import walk_ops
from .passes.kernel_weights import PACKED_OPERANDS, kernel_weight
from .png import heatmap

MAP_CELLS = 64


@dataclass
class LayerReport:
    """One weight: its shape, measured structure, the chosen format and what it saves."""

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
    fallback: str = ""
    density_map: dict[str, Any] = field(default_factory=dict)

    def heatmap_png(self) -> bytes | None:
        """The mask heatmap as PNG bytes (None when no map was recorded)."""
        if not self.density_map:
            return None
        h, w = self.density_map["shape"]
        cells = np.frombuffer(base64.b64decode(self.density_map["data"]), np.uint8).reshape(h, w)
        return heatmap(cells / 255.0)


class SparsityReport:
    """The rows of a model's report, with terminal, JSON and HTML renderings."""

    def __init__(self, layers: list[LayerReport]):
        self.layers = layers

    def __iter__(self):
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
        return cls([LayerReport(**{**row, "shape": tuple(row["shape"])}) for row in rows])

    def table(self) -> str:
        """A fixed-width table for the terminal."""
        if not self.layers:
            return "no matmul or convolution weights found"
        header = ("layer", "shape", "density", "detected", "format", "by", "MFLOP dense/sparse", "KiB dense/sparse", "speed-up")
        rows = [header]
        for layer in self.layers:
            chosen = layer.format + (" (fallback)" if layer.fallback else "")
            rows.append(
                (
                    layer.name,
                    f"{layer.shape[0]}x{layer.shape[1]}",
                    f"{layer.density:.3f}",
                    layer.detected,
                    chosen,
                    layer.source,
                    f"{layer.dense_flops / 1e6:.1f}/{layer.sparse_flops / 1e6:.1f}",
                    f"{layer.dense_bytes / 1024:.0f}/{layer.sparse_bytes / 1024:.0f}",
                    layer.speedup,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        notes = [f"  {l.name}: dense fallback: {l.fallback}" for l in self.layers if l.fallback]
        return "\n".join(lines + notes)

    def write_html(self, path: str | Path, title: str = "sparsile sparsity report") -> Path:
        """An HTML page with the table and one mask heatmap per sparse layer."""
        out = Path(path)
        rows, figures = [], []
        for layer in self.layers:
            rows.append(
                "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                    layer.name, f"{layer.shape[0]}x{layer.shape[1]}", f"{layer.density:.3f}", layer.detected,
                    layer.format, layer.source, f"{layer.dense_flops / 1e6:.1f} / {layer.sparse_flops / 1e6:.1f}",
                    f"{layer.dense_bytes / 1024:.0f} / {layer.sparse_bytes / 1024:.0f}", layer.speedup,
                )) + "</tr>"
            )
            png = layer.heatmap_png() if layer.density < 1.0 else None
            if png is not None:
                data = base64.b64encode(png).decode()
                figures.append(
                    f'<figure><img alt="mask of {html.escape(layer.name)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(layer.name)}: {html.escape(layer.detected)}</figcaption></figure>"
                )
        head = "".join(f"<th>{h}</th>" for h in (
            "layer", "shape", "density", "detected", "format", "source", "MFLOP dense / sparse", "KiB dense / sparse", "speed-up"))
        out.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
            "figure{display:inline-block;margin:8px}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table><tr>{head}</tr>{''.join(rows)}</table>"
            f"<h2>Masks (white = empty, blue = nonzero)</h2>{''.join(figures)}</body></html>\n"
        )
        return out


def collect(module: ir.Module) -> SparsityReport:
    """The report of a module in the ``kernels`` stage (or ``annotated``: no kernels yet)."""
    layers: list[tuple[int, LayerReport]] = []
    for op in walk_ops(module.operation):
        record = sparsity_attr.read(op)
        if record is None:
            continue
        if op.name in PACKED_OPERANDS:
            weight = kernel_weight(op)
        elif op.name == "arith.constant":
            array = constant_array(op)
            if array is not None and record.get("reduction_dim", 1) == 0:
                array = array.T
            weight = None if array is None else array.reshape(record["out_features"], -1)
        else:
            continue
        layers.append((record.get("order", 0), _layer(record, weight)))
    return SparsityReport([layer for _, layer in sorted(layers, key=lambda item: item[0])])


def _layer(record: dict[str, Any], weight: np.ndarray | None) -> LayerReport:
    out_f, in_f, rows = record["out_features"], record["in_features"], record["batch_rows"]
    fmt = record.get("format", record["pattern"])
    dense = matmul_cost("dense", rows, out_f * in_f, 0, in_f, out_f)
    stored = record.get("stored_values", out_f * in_f)
    sparse = matmul_cost(fmt, rows, stored, record.get("index_bytes", 0), in_f, out_f)
    return LayerReport(
        name=record["layer"],
        shape=(out_f, in_f),
        density=record["density"],
        detected=record["detected"],
        pattern=record["pattern"],
        format=fmt,
        source=record["source"],
        dense_flops=dense.flops,
        sparse_flops=sparse.flops,
        dense_bytes=dense.bytes,
        sparse_bytes=sparse.bytes,
        speedup=speedup_class(dense.seconds / sparse.seconds),
        fallback=record.get("fallback", ""),
        density_map=_density_map(weight) if weight is not None else {},
    )


def _density_map(weight: np.ndarray) -> dict[str, Any]:
    """The fraction of nonzeros per cell of an at most MAP_CELLS x MAP_CELLS grid, as uint8 in base64."""
    mask = (weight != 0).astype(np.float32)
    rows, cols = mask.shape
    fy, fx = -(-rows // MAP_CELLS), -(-cols // MAP_CELLS)
    padded = np.zeros((-(-rows // fy) * fy, -(-cols // fx) * fx), np.float32)
    padded[:rows, :cols] = mask
    cells = padded.reshape(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx).mean(axis=(1, 3))
    data = np.round(cells * 255).astype(np.uint8)
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode()}
