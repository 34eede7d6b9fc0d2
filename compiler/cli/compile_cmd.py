"""``sparsile compile MODEL -o DIR``: compile a model to an artifact directory (or to the IR of a stage)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ModelSpecError
from ..model_spec import is_mlir_path, load_factory_model, parse_factory_args
from ..options import QUANTIZATION_SCHEMES
from ..stages import ALL_STAGES, MLIR_STAGES
from ..targets import TARGET_NAMES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="compile a model to model.vmfb + manifest.json")
    p.add_argument("model", metavar="MODEL", help="path/to/file.py:factory (returns (module, example_args)) or an .mlir file")
    p.add_argument("-o", "--output", metavar="PATH", help="artifact directory to write (with --compile-to: the IR file; default stdout)")
    p.add_argument("--target", default="cpu", help=f"one of {', '.join(TARGET_NAMES)}, optionally with :chip (default: cpu)")
    p.add_argument("--sparsity", action="append", default=[], metavar="LAYER=PATTERN[,...]",
                   help="override detection for layers, e.g. fc1=2:4,fc2=dense (repeatable)")
    p.add_argument("--quantize", choices=QUANTIZATION_SCHEMES, help="store every matmul weight as int8 (a scale per row) or int4 (a scale per 128 columns)")
    p.add_argument("--tune", action="store_true", help="time every layer's candidate storages and tiles on this machine and keep the fastest")
    p.add_argument("--parameters", choices=sorted(_PARAMETERS), default="auto",
                   help="weights in a parameter archive model.irpa beside the .vmfb (archive), in the .vmfb (inline), "
                        "or by size (auto, the default: an archive from 256 MiB)")
    p.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE", help="keyword argument of the factory (repeatable)")
    p.add_argument("--dump-ir", metavar="DIR", help="write each stage's IR to DIR/NN-<stage>.mlir")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass to stderr")
    p.add_argument("--from-stage", choices=MLIR_STAGES, help="the stage an .mlir MODEL is in (default: linalg)")
    p.add_argument("--compile-to", choices=[s for s in ALL_STAGES if s not in ("linalg", "vmfb", "llvm")], metavar="STAGE",
                   help="stop after STAGE and write its IR instead of an artifact")
    p.add_argument("--entry", help="the function of an .mlir MODEL to export (default: its only public one)")
    p.add_argument("--no-elide", action="store_true", help="print constants in full in dumps and IR printing")
    p.add_argument("--iree-flag", action="append", default=[], metavar="FLAG", help="extra iree-compile flag (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(handler=run)


#: --parameters choices -> CompileOptions.parameters.
_PARAMETERS = {"auto": None, "archive": True, "inline": False}


def parse_sparsity(items: list[str]) -> dict[str, str]:
    """``["fc1=2:4,fc2=dense", "fc3=csr"]`` -> ``{"fc1": "2:4", "fc2": "dense", "fc3": "csr"}``."""
    overrides = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            layer, eq, pattern = part.partition("=")
            if not eq or not layer.strip() or not pattern.strip():
                raise ModelSpecError(f"--sparsity {part!r} must be LAYER=PATTERN, e.g. fc1=2:4")
            overrides[layer.strip()] = pattern.strip()
    return overrides


def _progress(stage: str, step: int, total: int, seconds: float | None) -> None:
    if seconds is None:
        print(f"[{step}/{total}] {stage} ...", file=sys.stderr, flush=True)
    else:
        print(f"[{step}/{total}] {stage} done in {seconds:.2f}s", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..api import compile as sparsile_compile
    from ..api import lower

    if args.output is None and not args.compile_to:
        raise ModelSpecError("give the artifact directory with -o DIR (or --compile-to STAGE to print a stage's IR)")
    options = {
        "target": args.target,
        "dump_ir": args.dump_ir,
        "print_ir_after_all": args.print_ir_after_all,
        "iree_flags": tuple(args.iree_flag),
        "progress": None if args.quiet else _progress,
        "sparsity": parse_sparsity(args.sparsity),
        "quantize": args.quantize,
        "tune": args.tune,
        "parameters": _PARAMETERS[args.parameters],
    }
    if args.no_elide:
        options["elide_limit"] = None
    if is_mlir_path(args.model):
        if args.arg:
            raise ModelSpecError("--arg passes arguments to a Python factory; an .mlir MODEL takes none")
        model, example_args = args.model, ()
        options.update(from_stage=args.from_stage, entry=args.entry)
    else:
        model, example_args = load_factory_model(args.model, parse_factory_args(args.arg))
    if args.compile_to:
        text = lower(model, example_args, args.compile_to, **options)
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text)
        return 0
    compiled = sparsile_compile(model, example_args, **options)
    out = compiled.save(args.output)
    archives = "".join(f", {name} {(out / name).stat().st_size / 2**20:.1f} MiB" for name in compiled.manifest.parameters.values())
    print(f"artifact: {out}/ ({compiled.manifest.payload} {len(compiled.payload) / 1024:.0f} KiB{archives}, manifest.json, ir/)")
    for scope, name in compiled.manifest.parameters.items():
        print(f"the weights are parameters: iree-run-module --module={out / compiled.manifest.payload} --parameters={scope}={out / name} ...")
    if args.dump_ir:
        print(f"IR dumps: {Path(args.dump_ir)}/")
    return 0
