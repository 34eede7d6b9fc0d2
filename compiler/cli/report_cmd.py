"""``sparsile report MODEL|DIR``: the per-layer sparsity table (and an HTML page)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..model_spec import is_mlir_path, load_factory_model, parse_factory_args
from .compile_cmd import parse_sparsity


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="print the per-layer sparsity report of a model or an artifact")
    p.add_argument("model", metavar="MODEL|DIR", help="path/to/file.py:factory, an .mlir file, or an artifact directory")
    p.add_argument("--html", metavar="FILE", help="also write an HTML report with one mask heatmap per sparse layer")
    p.add_argument("--sparsity", action="append", default=[], metavar="LAYER=PATTERN[,...]", help="override layers' patterns (repeatable)")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE", help="keyword argument of the factory (repeatable)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime import load

    overrides = parse_sparsity(args.sparsity)
    target = "cpu"  # what analyze schedules for
    if Path(args.model).is_dir():
        loaded = load(args.model)
        report, target = loaded.report, loaded.manifest.target.get("name", "cpu")
        loaded.release()
    elif is_mlir_path(args.model):
        from ..api import analyze

        report = analyze(args.model, sparsity=overrides)
    else:
        from ..api import analyze

        model, example_args = load_factory_model(args.model, parse_factory_args(args.arg))
        report = analyze(model, example_args, sparsity=overrides)
    print(report.table())
    if args.html:
        print(f"HTML report: {report.write_html(args.html, target=target)}")
    return 0
