"""The sparsile command: compile, run and opt."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ROOT, filecheck, run_cli


@pytest.fixture(scope="module")
def compiled_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    result = run_cli("compile", "examples/models.py:mlp", "-o", str(out / "art"), "--dump-ir", str(out / "dumps"), check=True)
    return out, result


def test_compile_progress_and_outputs(compiled_dir):
    out, result = compiled_dir
    filecheck(
        result.stderr,
        "CHECK: [1/6] linalg ...\nCHECK: [1/6] linalg done in\nCHECK: [2/6] annotated ...\n"
        "CHECK: [4/6] iree-input done in\nCHECK: [5/6] iree-handoff done in\nCHECK: [6/6] vmfb done in\n",
    )
    assert f"artifact: {out / 'art'}/" in result.stdout
    assert f"IR dumps: {out / 'dumps'}/" in result.stdout
    assert sorted(p.name for p in (out / "dumps").iterdir()) == [
        "00-linalg.mlir",
        "01-annotated.mlir",
        "02-kernels.mlir",
        "03-iree-input.mlir",
        "04-iree-handoff.mlir",
    ]
    linalg = (out / "dumps" / "00-linalg.mlir").read_text()
    filecheck(
        linalg,
        "CHECK-LABEL: func.func @main\n"
        'CHECK: %[[W:.*]] = arith.constant {sparsile.name = "layers.0.weight"} dense_resource<__elided__> : tensor<256x64xf32>\n'
        "CHECK: linalg.transpose ins(%[[W]] : tensor<256x64xf32>)\n"
        "CHECK: linalg.matmul\n",
    )


def test_run_matches_torch(compiled_dir, models, tmp_path):
    out, _ = compiled_dir
    model, (x,) = models.mlp()
    np.save(tmp_path / "x.npy", x.numpy())
    result = run_cli("run", str(out / "art"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"), check=True)
    assert "result 0: float32[4, 32]" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_run_errors(compiled_dir, tmp_path):
    out, _ = compiled_dir
    np.save(tmp_path / "bad.npy", np.zeros((2, 64), np.float32))
    result = run_cli("run", str(out / "art"), "--input", str(tmp_path / "bad.npy"))
    assert result.returncode == 1
    assert "sparsile run: error: argument 0 (x): expected float32[4, 64], got float32[2, 64]" in result.stderr
    result = run_cli("run", str(out / "art"))
    assert "takes 1 argument(s)" in result.stderr
    result = run_cli("run", str(tmp_path / "missing"))
    assert "is not an artifact directory" in result.stderr


def test_compile_mlir_file_from_a_stage(compiled_dir, tmp_path, models):
    out, _ = compiled_dir
    # A dump is a valid start when constants are kept in full.
    full = tmp_path / "full"
    run_cli("compile", "examples/models.py:mlp", "-o", str(tmp_path / "a"), "--dump-ir", str(full), "--no-elide", "-q", check=True)
    result = run_cli(
        "compile", str(full / "02-kernels.mlir"), "--from-stage", "kernels", "-o", str(tmp_path / "b"), check=True
    )
    assert "[1/4] kernels" in result.stderr
    model, (x,) = models.mlp()
    import sparsile

    torch.testing.assert_close(sparsile.load(tmp_path / "b")(x), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_compile_errors_are_one_line(tmp_path):
    result = run_cli("compile", "examples/models.py:nope", "-o", str(tmp_path / "x"))
    assert result.returncode == 1
    assert "has no function 'nope'; functions defined there: " in result.stderr
    assert "mlp" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("compile", "examples/models.py:mlp", "-o", str(tmp_path / "x"), "--target", "cuda12")
    assert "unknown target 'cuda12'; expected one of: cpu, cuda, rocm, vulkan, native-cpu" in result.stderr
    result = run_cli("compile", "missing.py:f", "-o", str(tmp_path / "x"))
    assert "missing.py does not exist" in result.stderr
    result = run_cli("compile", "examples/models.py", "-o", str(tmp_path / "x"))
    assert "must be 'path/to/file.py:factory' or an .mlir file" in result.stderr


def test_opt_print_ir_after_all():
    result = run_cli(
        "opt", str(ROOT / "tests/ir/check_input.mlir"), "--split-input-file", "-p", "check-input,canonicalize", "--print-ir-after-all"
    )
    assert result.returncode == 0, result.stderr
    filecheck(result.stderr, "CHECK: IR Dump After check-input\nCHECK: IR Dump After Canonicalizer\n")


def test_opt_stdin_list_and_errors():
    result = run_cli("opt", "-p", "cse", stdin="func.func @f(%a: f32) -> f32 {\n  return %a : f32\n}\n")
    assert result.returncode == 0 and "func.func @f" in result.stdout
    result = run_cli("opt", "--list-passes")
    assert "check-input" in result.stdout and "check-iree-input" in result.stdout
    result = run_cli("opt", "-p", "no-such-pass", stdin="")
    assert "unknown pass 'no-such-pass'; sparsile passes are: check-input, check-iree-input, " in result.stderr
    assert "detect-sparsity" in result.stderr and "(any upstream MLIR pass name is accepted too)" in result.stderr
    result = run_cli("opt", "-p", "check-input{entry}", stdin="")
    assert "option 'entry' of pass 'check-input' is not of the form key=value" in result.stderr


def test_python_m_and_console_script_agree():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "sparsile"
    assert script.is_file(), "the install provides a sparsile console script next to python"
    result = subprocess.run([str(script), "opt", "--list-passes"], capture_output=True, text=True)
    assert result.returncode == 0 and "check-input" in result.stdout


def test_manifest_written_last_and_complete(compiled_dir):
    out, _ = compiled_dir
    data = json.loads((out / "art" / "manifest.json").read_text())
    assert data["format_version"] == 2
    assert not list((out / "art").glob(".*.tmp"))


def test_version_help_and_list_passes_import_no_compiler():
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from sparsile.cli import main\n"
        "for argv in (['--version'], ['--help'], ['opt', '--list-passes'], ['compile', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try: main(argv)\n"
        "        except SystemExit: pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torch_mlir', 'sympy', 'iree')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    result = run_cli("--version", check=True)
    import sparsile

    assert result.stdout.strip() == f"sparsile {sparsile.__version__}"


def test_compile_sparsity_and_factory_arguments(tmp_path, models):
    out = tmp_path / "art"
    run_cli(
        "compile", "examples/pruned_models.py:mlp", "--arg", "batch=3", "--sparsity", "layers.0=dense,layers.1=csr",
        "--sparsity", "layers.2=dense", "-o", str(out), "-q", check=True,
    )
    import sparsile

    loaded = sparsile.load(out)
    assert loaded.manifest.inputs[0].shape[0] == 3
    layers = {l.name: (l.pattern, l.source) for l in loaded.report}
    assert layers["layers.0.weight"] == ("dense", "override") and layers["layers.1.weight"] == ("csr", "override")
    assert layers["layers.2.weight"] == ("dense", "override")
    result = run_cli("compile", "examples/pruned_models.py:mlp", "--arg", "bogus=1", "-o", str(tmp_path / "x"))
    assert result.returncode == 1 and "mlp() does not take these arguments" in result.stderr and "its parameters: batch" in result.stderr
    result = run_cli("compile", "examples/pruned_models.py:mlp", "--sparsity", "fc1", "-o", str(tmp_path / "x"))
    assert "--sparsity 'fc1' must be LAYER=PATTERN, e.g. fc1=2:4" in result.stderr
    result = run_cli("compile", "examples/pruned_models.py:mlp", "--sparsity", "layers.0=3:3", "-o", str(tmp_path / "x"))
    assert "sparsity override for 'layers.0': unknown sparsity pattern '3:3'" in result.stderr


def test_compile_weights_into_a_parameter_archive(tmp_path):
    out = tmp_path / "art"
    result = run_cli("compile", "examples/pruned_models.py:mlp", "--parameters", "archive", "-o", str(out), "-q", check=True)
    assert f"the weights are parameters: iree-run-module --module={out / 'model.vmfb'} --parameters=model={out / 'model.irpa'}" in result.stdout
    import sparsile

    assert sparsile.load(out).manifest.parameters == {"model": "model.irpa"}
    run_cli("compile", "examples/pruned_models.py:mlp", "--parameters", "inline", "-o", str(tmp_path / "inline"), "-q", check=True)
    assert not (tmp_path / "inline" / "model.irpa").exists()


def test_compile_to_a_stage_prints_its_ir(tmp_path):
    result = run_cli("compile", "examples/pruned_models.py:mlp", "--sparsity", "layers.0=csr", "--compile-to", "iree-handoff", "-q", check=True)
    filecheck(result.stdout, "CHECK: stream.executable private @sparsile_kernel_\nCHECK: func.func @main\nCHECK: flow.dispatch\n")
    result = run_cli("compile", "examples/pruned_models.py:mlp", "--compile-to", "kernels", "-o", str(tmp_path / "k.mlir"), "-q", check=True)
    assert '"sparsile.matmul"' in (tmp_path / "k.mlir").read_text()
    result = run_cli("compile", "examples/pruned_models.py:mlp")
    assert "give the artifact directory with -o DIR" in result.stderr


def test_unknown_chip_fails_before_compiling(tmp_path):
    result = run_cli("compile", "examples/models.py:mlp", "-o", str(tmp_path / "x"), "--target", "cuda:sm_7")
    assert result.returncode == 1
    assert "target 'cuda:sm_7': iree-compile cannot generate code for chip 'sm_7'" in result.stderr
    assert "[2/" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2
    result = run_cli("compile", "examples/models.py:mlp", "-o", str(tmp_path / "x"), "--target", "cpu:znver9")
    assert "cannot generate code for chip 'znver9': LLVM does not know it; accepted CPUs: " in result.stderr
    assert "znver4" in result.stderr
