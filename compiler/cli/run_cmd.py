"""``sparsile run DIR --input x.npy``: run an artifact on .npy inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import ArgumentError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an artifact directory on .npy inputs")
    p.add_argument("artifact", metavar="DIR", help="an artifact directory written by 'sparsile compile'")
    p.add_argument("--input", action="append", default=[], metavar="FILE.npy", help="one per argument, in order")
    p.add_argument("-o", "--output", action="append", default=[], metavar="FILE.npy", help="one per result, in order")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..runtime import load

    model = load(args.artifact)
    inputs = [_load_npy(path) for path in args.input]
    results = model.call_flat(*inputs)
    if args.output and len(args.output) != len(results):
        raise ArgumentError(f"the model returns {len(results)} result(s); give as many -o files, got {len(args.output)}")
    for i, array in enumerate(results):
        if args.output:
            np.save(args.output[i], array)
            print(f"result {i}: {array.dtype}{list(array.shape)} -> {args.output[i]}")
        else:
            print(f"result {i}: {array.dtype}{list(array.shape)}")
            print(np.array2string(array, threshold=20, edgeitems=3))
    model.release()
    return 0


def _load_npy(path: str) -> np.ndarray:
    file = Path(path)
    if not file.is_file():
        raise ArgumentError(f"input {path}: no such file")
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ArgumentError(f"input {path} is not a .npy array: {err}") from None
