"""``sparsile opt FILE -p PASSES``: run passes on an .mlir file, mlir-opt style."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import MLIRParseError, PipelineError, SparsileError
from ..passes.registry import parse_pipeline, pass_names, pass_summary

SPLIT_MARKER = "// -----"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("opt", help="run a pass pipeline on an .mlir file (mlir-opt style)")
    p.add_argument("file", nargs="?", default="-", metavar="FILE.mlir", help="input file ('-' or none: stdin)")
    p.add_argument("-p", "--passes", default="", metavar="PIPELINE", help="comma-separated passes, e.g. check-input,cse")
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass to stderr")
    p.add_argument("--list-passes", action="store_true", help="list sparsile's passes and exit")
    p.add_argument("--split-input-file", action="store_true", help=f"treat each '{SPLIT_MARKER}'-separated chunk as its own input")
    p.add_argument("--verify-diagnostics", action="store_true", help="check diagnostics against expected-* comments")
    p.add_argument("--elide", type=int, default=None, metavar="N", help="elide constants with more than N elements")
    p.add_argument("-o", "--output", metavar="OUT", help="write the result here instead of stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.list_passes:
        for name in pass_names():
            print(f"  {name:<24} {pass_summary(name)}")
        print("  (any upstream MLIR pass, e.g. canonicalize or func.func(cse), is accepted too)")
        return 0
    from ..mlir import new_context

    parse_pipeline(args.passes, new_context())  # a bad pipeline is reported before any input is read
    source_name = "<stdin>" if args.file == "-" else args.file
    text = sys.stdin.read() if args.file == "-" else _read(args.file)
    chunks = _split(text) if args.split_input_file else [(1, text)]
    outputs: list[str] = []
    failed = False
    for first_line, chunk in chunks:
        output, ok = _process(chunk, first_line, source_name, args)
        failed |= not ok
        if output is not None:
            outputs.append(output)
    result = f"\n{SPLIT_MARKER}\n".join(outputs)
    if args.output:
        Path(args.output).write_text(result)
    else:
        sys.stdout.write(result)
    return 1 if failed else 0


def _read(path: str) -> str:
    file = Path(path)
    if not file.is_file():
        raise SparsileError(f"{path}: no such file")
    return file.read_text()


def _split(text: str) -> list[tuple[int, str]]:
    chunks: list[tuple[int, str]] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.strip() == SPLIT_MARKER:
            chunks.append((start, "".join(current)))
            start, current = number + 1, []
        else:
            current.append(line)
    chunks.append((start, "".join(current)))
    return chunks


def _process(chunk: str, first_line: int, source_name: str, args: argparse.Namespace) -> tuple[str | None, bool]:
    """Run the pipeline on one chunk; returns (printed IR or None, success)."""
    from ..diagnostics import Diag, DiagnosticCollector
    from ..mlir import new_context, to_text
    from ..parsing import parse_module
    from ..pass_runner import PassRunner
    from ..verify_diagnostics import parse_expectations, verify

    ctx = new_context()
    collector = DiagnosticCollector(ctx, source_name) if args.verify_diagnostics else None
    # Blank lines in front keep diagnostics on the line numbers of the whole file.
    padded = "\n" * (first_line - 1) + chunk
    diags: list[Diag] = []
    output = None
    try:
        module = parse_module(padded, ctx, source_name)
        runner = PassRunner(
            ctx,
            print_ir_after_all=args.print_ir_after_all,
            elide_limit=args.elide,
            source_name=source_name,
            save_failures=not args.verify_diagnostics,
        )
        runner.run(module, parse_pipeline(args.passes, ctx), "opt")
        output = to_text(module, args.elide)
    except (MLIRParseError, PipelineError) as err:
        if not args.verify_diagnostics:
            raise
        diags = err.diags
    if collector is None:
        return output, True
    collector.detach()
    problems = verify(parse_expectations(chunk, first_line), collector.diags + diags, source_name)
    for problem in problems:
        print(problem, file=sys.stderr)
    return output, not problems
