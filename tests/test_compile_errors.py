"""Compile-time mistakes get one clear error each, naming what was wrong and where."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sparsile
from sparsile.errors import (
    MLIRParseError,
    ModelImportError,
    ModelSpecError,
    PipelineError,
    SparsileError,
    UnknownStageError,
    UnknownTargetError,
    UnsupportedOpError,
)

SPARSE_AT_KERNELS = """
#CSR = #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed)}>
func.func @main(%x: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %w = arith.constant dense<1.0> : tensor<4x3xf32, #CSR>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x3xf32, #CSR>) outs(%f : tensor<2x3xf32>) -> tensor<2x3xf32>
  return %r : tensor<2x3xf32>
}
"""


@pytest.mark.parametrize("name", ["cuda12", "tpu", ""])
def test_unknown_target(models, name):
    model, args = models.mlp()
    with pytest.raises(UnknownTargetError, match=r"unknown target .*; expected one of: cpu, cuda, rocm, vulkan, native-cpu"):
        sparsile.compile(model, args, target=name)


def test_target_names_are_normalised():
    assert sparsile.resolve_target("LLVM_CPU").name == "cpu"
    assert sparsile.resolve_target("hip:gfx90a").flags[-1] == "--iree-rocm-target=gfx90a"
    assert sparsile.resolve_target("cuda").flags[-1] == "--iree-cuda-target=sm_80"
    assert sparsile.resolve_target("cpu:znver4").flags[-1] == "--iree-llvmcpu-target-cpu=znver4"


@pytest.mark.parametrize(
    "spec,message",
    [
        ("cuda:sm_7", r"target 'cuda:sm_7': iree-compile cannot generate code for chip 'sm_7': this IREE has no code generation target for it"),
        ("cuda:h100", r"chip 'h100': Unknown CUDA target 'h100'"),
        ("rocm:gfx9999", r"chip 'gfx9999': Unknown ROCM target 'gfx9999'"),
        ("vulkan:nosuchgpu", r"chip 'nosuchgpu': Unknown Vulkan target 'nosuchgpu'"),
    ],
)
def test_unknown_chip_is_refused_before_any_work(models, spec, message, monkeypatch):
    import sparsile.driver

    monkeypatch.setattr(sparsile.driver, "load_source", lambda *a: pytest.fail("the model was imported before the chip was checked"))
    model, args = models.mlp()
    with pytest.raises(sparsile.UnknownChipError, match=message):
        sparsile.compile(model, args, target=spec)


def test_malformed_chip_names():
    with pytest.raises(sparsile.UnknownChipError, match=r"chip 'sm 80;rm' of target 'cuda' is not a chip name"):
        sparsile.resolve_target("cuda:sm 80;rm")
    with pytest.raises(sparsile.UnknownChipError, match=r"target 'native-cpu' takes no chip, got 'x'"):
        sparsile.resolve_target("native-cpu:x")


def test_unknown_option(models):
    model, args = models.mlp()
    with pytest.raises(SparsileError, match=r"unknown compile option\(s\): optimise; valid options: .*target"):
        sparsile.compile(model, args, optimise=True)


def test_unknown_stage():
    with pytest.raises(UnknownStageError, match="unknown stage 'lowered'; expected one of: linalg, annotated"):
        sparsile.compile(SPARSE_AT_KERNELS, from_stage="lowered")


class UsesSvd(torch.nn.Module):
    def forward(self, x):
        return torch.linalg.svdvals(x)


def test_unsupported_op_is_named_with_source_line():
    with pytest.raises(UnsupportedOpError, match=r"operator 'aten._linalg_svd' is not supported") as info:
        sparsile.compile(UsesSvd().eval(), (torch.randn(4, 4),))
    assert "test_compile_errors.py:" in str(info.value)


class DataDependent(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


def test_untraceable_model():
    with pytest.raises(ModelImportError, match="torch.export could not trace DataDependent"):
        sparsile.compile(DataDependent().eval(), (torch.randn(3),))


def test_non_tensor_example_argument(models):
    model, args = models.mlp()
    with pytest.raises(ModelImportError, match="example argument 1 is a int"):
        sparsile.compile(model, (*args, 3))


def test_malformed_mlir_names_line_and_column(tmp_path):
    path = tmp_path / "bad.mlir"
    path.write_text("func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {\n  %y = arith.addf %x : tensor<4xf32>\n}\n")
    with pytest.raises(MLIRParseError, match=rf"{path}:2:\d+: error: expected ','"):
        sparsile.compile(str(path))


def test_missing_mlir_file(tmp_path):
    with pytest.raises(ModelSpecError, match="nope.mlir: no such MLIR file"):
        sparsile.compile(str(tmp_path / "nope.mlir"))


def test_unsupported_model_type():
    with pytest.raises(ModelSpecError, match="cannot compile a int"):
        sparsile.compile(3)


def test_failing_pass_writes_ir_and_reproduces(tmp_path):
    with pytest.raises(PipelineError) as info:
        sparsile.compile(SPARSE_AT_KERNELS, from_stage="kernels", dump_ir=tmp_path)
    err = info.value
    message = str(err)
    assert "stage 'iree-input' failed in pass 'check-iree-input'" in message
    assert "IREE cannot compile sparse encodings" in message
    assert err.ir_path and Path(err.ir_path).parent == tmp_path
    assert f"reproduce with: sparsile opt -p check-iree-input {err.ir_path}" in message
    # The command in the message really reproduces the failure.
    repro = subprocess.run(
        [sys.executable, "-m", "sparsile", "opt", "-p", "check-iree-input", err.ir_path],
        capture_output=True,
        text=True,
    )
    assert repro.returncode == 1
    assert "stage 'opt' failed in pass 'check-iree-input'" in repro.stderr
    assert "IREE cannot compile sparse encodings" in repro.stderr


def test_iree_failure_names_the_stage(models, tmp_path):
    model, args = models.mlp()
    with pytest.raises(PipelineError, match=r"stage 'vmfb' failed in pass 'iree-compile'") as info:
        sparsile.compile(model, args, iree_flags=("--iree-no-such-flag",), dump_ir=tmp_path)
    assert "reproduce with: iree-compile" in str(info.value)
    assert Path(info.value.ir_path).is_file()
    # The saved input is what iree-compile was given (the hand-off, in full): the repro runs it.
    import shlex
    import subprocess
    import sys

    command = shlex.split(info.value.repro.replace("--iree-no-such-flag", ""))
    command[0] = str(Path(sys.executable).parent / "iree-compile")
    command[-1] = str(tmp_path / "repro.vmfb")
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert (tmp_path / "repro.vmfb").stat().st_size > 1000


def test_lower_names_the_stages_it_can_stop_at(models):
    model, args = models.mlp()
    expected = r"stage 'llvm' is not an MLIR stage from 'linalg' on target 'cpu'; choose one of: linalg, annotated, kernels, iree-input, iree-handoff"
    with pytest.raises(ModelSpecError, match=expected):
        sparsile.lower(model, args, "llvm")
    with pytest.raises(ModelSpecError, match=r"stage 'vmfb' is not an MLIR stage"):
        sparsile.lower(model, args, "vmfb")
