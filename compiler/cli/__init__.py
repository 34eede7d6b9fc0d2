"""The ``sparsile`` command: compile, run, report and opt subcommands.

Building the parser imports nothing heavy, so ``--help``, ``--version`` and
``opt --list-passes`` answer at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import SparsileError
from ..versions import __version__
from . import compile_cmd, opt_cmd, report_cmd, run_cmd

_COMMANDS = (compile_cmd, run_cmd, report_cmd, opt_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparsile", description="Compile sparse PyTorch models with MLIR and IREE.")
    parser.add_argument("--version", action="version", version=f"sparsile {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SparsileError as err:
        print(f"sparsile {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sparsile: interrupted", file=sys.stderr)
        return 130
