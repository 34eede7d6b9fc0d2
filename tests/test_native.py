"""native-cpu: sparse inputs through MLIR's sparsifier, and the second oracle for the IREE lowerings."""

from __future__ import annotations

import warnings

import pruning
import pytest
import torch
from conftest import EXAMPLES

import sparsile
from sparsile.errors import ArgumentError, ModelSpecError

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


class SpMM(torch.nn.Module):
    def forward(self, a, x):
        return torch.mm(a, x)


class SpMV(torch.nn.Module):
    def forward(self, a, v):
        return torch.mv(a, v)


class GraphConv(torch.nn.Module):
    """relu(A @ X @ W) with a sparse adjacency A."""

    def __init__(self, features: int = 6, out: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.weight = torch.nn.Parameter(torch.randn(features, out))

    def forward(self, adjacency, x):
        return torch.relu(torch.mm(adjacency, torch.mm(x, self.weight)))


class Sum(torch.nn.Module):
    def forward(self, a):
        return a.sum()


class Negate(torch.nn.Module):
    def forward(self, a):
        return -a


def sparse_matrix(rows: int, cols: int, density: float, seed: int, empty_rows: bool = True) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    dense = torch.rand(rows, cols, generator=generator) * (torch.rand(rows, cols, generator=generator) < density)
    if empty_rows and rows > 2:
        dense[1] = 0  # rows without entries must work
    return dense


def layouts(dense: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "csr":
        return dense.to_sparse_csr()
    if layout == "coo":
        return dense.to_sparse_coo()
    return dense.to_sparse_bsr((2, 2))


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("shape,density", [((8, 6), 0.3), ((32, 24), 0.1), ((16, 16), 0.0), ((5, 7), 1.0)])
def test_spmm(layout, shape, density):
    a = layouts(sparse_matrix(*shape, density, seed=1), layout)
    x = torch.randn(shape[1], 4)
    compiled = sparsile.compile(SpMM().eval(), (a, x), target="native-cpu")
    assert compiled.manifest.inputs[0].layout == layout
    torch.testing.assert_close(compiled(a, x), a.to_dense() @ x, rtol=1e-5, atol=1e-5)
    b = layouts(sparse_matrix(*shape, density, seed=2), layout)  # other positions, other nnz
    torch.testing.assert_close(compiled(b, x), b.to_dense() @ x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["csr", "bsr"])
def test_spmv(layout):
    a = layouts(sparse_matrix(8, 8, 0.4, seed=3), layout)
    v = torch.randn(8)
    compiled = sparsile.compile(SpMV().eval(), (a, v), target="native-cpu")
    torch.testing.assert_close(compiled(a, v), a.to_dense() @ v, rtol=1e-5, atol=1e-5)


def test_graph_convolution_and_sum():
    adjacency = (sparse_matrix(6, 6, 0.4, seed=4) > 0).float().to_sparse_csr()
    x = torch.randn(6, 6)
    model = GraphConv().eval()
    compiled = sparsile.compile(model, (adjacency, x), target="native-cpu")
    torch.testing.assert_close(compiled(adjacency, x), model(adjacency, x).detach(), rtol=1e-5, atol=1e-5)
    a = sparse_matrix(9, 7, 0.3, seed=5).to_sparse_csr()
    total = sparsile.compile(Sum().eval(), (a,), target="native-cpu")
    torch.testing.assert_close(total(a), a.to_dense().sum(), rtol=1e-5, atol=1e-5)


def test_sparse_results_come_back_sparse():
    a = sparse_matrix(8, 6, 0.3, seed=6).to_sparse_csr()
    compiled = sparsile.compile(Negate().eval(), (a,), target="native-cpu")
    assert compiled.manifest.outputs[0].layout == "csr"
    result = compiled(a)
    assert result.layout is torch.sparse_csr
    torch.testing.assert_close(result.to_dense(), -a.to_dense())


def test_sampled_dense_dense_matmul_from_mlir():
    compiled = sparsile.compile(str(EXAMPLES / "sparse_programs" / "sddmm.mlir"), target="native-cpu")
    sample = sparse_matrix(8, 8, 0.3, seed=7)
    a, b = torch.randn(8, 5), torch.randn(5, 8)
    torch.testing.assert_close(compiled(sample.to_sparse_csr(), a, b), sample * (a @ b), rtol=1e-5, atol=1e-5)


def test_wrong_layout_and_shape_at_call_time():
    a = sparse_matrix(8, 6, 0.3, seed=8)
    x = torch.randn(6, 4)
    compiled = sparsile.compile(SpMM().eval(), (a.to_sparse_csr(), x), target="native-cpu")
    with pytest.raises(ArgumentError, match=r"argument 0 \(a\): expected a csr sparse tensor \(float32\[8, 6\] csr\), got torch.sparse_coo"):
        compiled(a.to_sparse_coo(), x)
    with pytest.raises(ArgumentError, match=r"argument 0 \(a\): expected a csr sparse tensor .*, got torch.strided"):
        compiled(a, x)
    with pytest.raises(ArgumentError, match=r"argument 0 \(a\): expected float32\[8, 6\] csr, got float32\[6, 8\] csr"):
        compiled(a.t().contiguous().to_sparse_csr(), x.t())


def test_sparse_inputs_need_the_native_target():
    a = sparse_matrix(8, 6, 0.3, seed=9).to_sparse_csr()
    with pytest.raises(ModelSpecError, match=r"argument 0 \(a\) is a sparse tensor .* compile with target='native-cpu'"):
        sparsile.compile(SpMM().eval(), (a, torch.randn(6, 4)), target="cpu")


def test_artifact_round_trip_and_object_file(tmp_path):
    a = sparse_matrix(8, 6, 0.3, seed=10).to_sparse_csr()
    x = torch.randn(6, 4)
    compiled = sparsile.compile(SpMM().eval(), (a, x), target="native-cpu")
    directory = compiled.save(tmp_path / "spmm")
    assert (directory / "model.mlirbc").is_file() and not (directory / "model.vmfb").exists()
    loaded = sparsile.load(directory)
    torch.testing.assert_close(loaded(a, x), a.to_dense() @ x, rtol=1e-5, atol=1e-5)
    obj = compiled.write_object(tmp_path / "spmm.o")
    assert obj.read_bytes()[:4] == b"\x7fELF"
    assert "llvm.func" in compiled.ir("llvm")


FORMATS = {
    "csr": lambda layer: pruning.magnitude(layer, 0.9),
    "2:4": lambda layer: pruning.n_of_m(layer, 2, 4),
    "bsr16": lambda layer: pruning.blocks(layer, 0.75, 16),
    "channels": lambda layer: pruning.neurons(layer, 0.5),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_iree_lowering_agrees_with_the_sparsifier(models, fmt):
    torch.manual_seed(11)
    model = models.MLP((64, 128, 128, 32)).eval()
    for layer in model.layers[:2]:
        FORMATS[fmt](layer)
    x = torch.randn(7, 64)
    requested = {"layers.0": fmt, "layers.1": fmt}  # sparse storage on both paths, whatever the cost model says
    iree = sparsile.compile(model, (x,), target="cpu", sparsity=requested)
    native = sparsile.compile(model, (x,), target="native-cpu", sparsity=requested)
    for report in (iree.report, native.report):
        assert [l.pattern for l in report][:2] == [fmt, fmt]
        assert all(l.format != "dense" for l in list(report)[:2])
    torch.testing.assert_close(iree(x), native(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(native(x), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_native_options_reach_the_sparsifier():
    a = sparse_matrix(16, 16, 0.3, seed=12).to_sparse_csr()
    x = torch.randn(16, 8)
    compiled = sparsile.compile(SpMM().eval(), (a, x), target="native-cpu", native_options={"vl": 8, "reassociate-fp-reductions": True})
    torch.testing.assert_close(compiled(a, x), a.to_dense() @ x, rtol=1e-5, atol=1e-5)
    with pytest.raises(sparsile.PassOptionError, match="upstream pass 'sparsifier.*no-such-option=1.*' does not parse"):
        sparsile.compile(SpMM().eval(), (a, x), target="native-cpu", native_options={"no-such-option": 1}, cache=False)
