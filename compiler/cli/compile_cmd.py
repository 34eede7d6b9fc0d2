"""``sparsile compile MODEL -o DIR``: compile a model to an artifact directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..model_spec import is_mlir_path, load_factory_model
from ..stages import MLIR_STAGES
from ..targets import TARGET_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="compile a model to model.vmfb + manifest.json")
    p.add_argument("model", metavar="MODEL", help="path/to/file.py:factory (returns (module, example_args)) or an .mlir file")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="artifact directory to write")
    p.add_argument("--target", default="cpu", help=f"one of {', '.join(TARGET_NAMES)}, optionally with :chip (default: cpu)")
    p.add_argument("--dump-ir", metavar="DIR", help="write each stage's IR to DIR/NN-<stage>.mlir")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass to stderr")
    p.add_argument("--from-stage", choices=MLIR_STAGES, help="the stage an .mlir MODEL is in (default: linalg)")
    p.add_argument("--entry", help="the function of an .mlir MODEL to export (default: its only public one)")
    p.add_argument("--no-elide", action="store_true", help="print constants in full in dumps and IR printing")
    p.add_argument("--iree-flag", action="append", default=[], metavar="FLAG", help="extra iree-compile flag (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=run)


def _progress(stage: str, step: int, total: int, seconds: float | None) -> None:
    if seconds is None:
        print(f"[{step}/{total}] {stage} ...", file=sys.stderr, flush=True)
    else:
        print(f"[{step}/{total}] {stage} done in {seconds:.2f}s", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..api import compile as sparsile_compile

    options = {
        "target": args.target,
        "dump_ir": args.dump_ir,
        "print_ir_after_all": args.print_ir_after_all,
        "iree_flags": tuple(args.iree_flag),
        "progress": None if args.quiet else _progress,
    }
    if args.no_elide:
        options["elide_limit"] = None
    if is_mlir_path(args.model):
        compiled = sparsile_compile(args.model, from_stage=args.from_stage, entry=args.entry, **options)
    else:
        model, example_args = load_factory_model(args.model)
        compiled = sparsile_compile(model, example_args, **options)
    out = compiled.save(args.output)
    print(f"artifact: {out}/ ({compiled.manifest.payload} {len(compiled.payload) / 1024:.0f} KiB, manifest.json, ir/)")
    if args.dump_ir:
        print(f"IR dumps: {Path(args.dump_ir)}/")
    return 0
