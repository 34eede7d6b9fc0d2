"""``sparsile report MODEL|DIR``: the per-layer sparsity table (and an HTML page)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model_spec import is_mlir_path, load_factory_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the per-layer sparsity report of a model or an artifact")
    p.add_argument("model", metavar="MODEL|DIR", help="path/to/file.py:factory, an .mlir file, or an artifact directory")
    p.add_argument("--html", metavar="FILE", help="also write an HTML report with one mask heatmap per sparse layer")
    p.add_argument("--sparsity", action="append", default=[], metavar="LAYER=PATTERN", help="override a layer's pattern (repeatable)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..api import analyze
    from ..artifact import load
    from ..errors import ModelSpecError

    overrides = {}
    for item in args.sparsity:
        layer, eq, pattern = item.partition("=")
        if not eq:
            raise ModelSpecError(f"--sparsity {item!r} must be LAYER=PATTERN, e.g. fc1=2:4")
        overrides[layer] = pattern
    if Path(args.model).is_dir():
        report = load(args.model).report
    elif is_mlir_path(args.model):
        report = analyze(args.model, sparsity=overrides)
    else:
        model, example_args = load_factory_model(args.model)
        report = analyze(model, example_args, sparsity=overrides)
    print(report.table())
    if args.html:
        print(f"HTML report: {report.write_html(args.html)}")
    return 0
