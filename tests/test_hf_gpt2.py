"""A Hugging Face GPT-2 built from a config (no download): [in, out] Conv1D weights and a tied LM head.

GPT-2's projections are ``Conv1D`` layers that store their weight ``[in, out]`` and
compute ``addmm(bias, x, W)``; its LM head multiplies by the transposed token embedding
``wte`` that the model also gathers from (tied weights).
"""

from __future__ import annotations

import pruning
import pytest
import torch

import sparsile
from sparsile.mlir import ir, new_context
from sparsile.passes.ir_query import walk_ops
from sparsile.passes.kernel_ops import Kernel, is_kernel

transformers = pytest.importorskip("transformers")


class GPT2Logits(torch.nn.Module):
    """GPT-2 called with keyword arguments (its second positional argument is the cache), returning logits."""

    def __init__(self, vocab: int):
        super().__init__()
        config = transformers.GPT2Config(
            vocab_size=vocab,
            n_positions=32,
            n_embd=64,
            n_layer=2,
            n_head=2,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            use_cache=False,
            attn_implementation="eager",
        )
        self.gpt2 = transformers.GPT2LMHeadModel(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.gpt2(input_ids=input_ids, attention_mask=attention_mask).logits


def gpt2(vocab: int) -> tuple[GPT2Logits, tuple[torch.Tensor, torch.Tensor]]:
    torch.manual_seed(0)
    model = GPT2Logits(vocab).eval()
    input_ids = torch.randint(0, vocab, (2, 8))
    attention_mask = torch.ones(2, 8, dtype=torch.int64)
    attention_mask[1, 6:] = 0
    return model, (input_ids, attention_mask)


def conv1d_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {name: module for name, module in model.named_modules() if type(module).__name__ == "Conv1D"}


@pytest.mark.parametrize("pattern", ["csr", "2:4"])
def test_pruned_conv1d_layers_are_stored_sparse(pattern):
    model, args = gpt2(vocab=96)
    layers = conv1d_layers(model)
    assert len(layers) == 8
    for layer in layers.values():
        if pattern == "csr":
            pruning.magnitude(layer, 0.9)
        else:
            pruning.n_of_m(layer, 2, 4)
    # Requested, so schedule stores them sparse whatever these small layers' predicted times.
    compiled = sparsile.compile(model, args, target="cpu", sparsity=dict.fromkeys(layers, pattern))
    with torch.no_grad():
        expected = model(*args)
    torch.testing.assert_close(compiled(*args), expected, rtol=1e-4, atol=1e-5)
    for name, layer in layers.items():
        row = compiled.report[f"{name}.weight"]
        assert row.format != "dense", (name, row.format, row.fallback)
        assert row.detected.split(";")[0] == pattern, (name, row.detected)
        # [in, out] storage, read as the layer's [out, in] weight.
        assert row.shape == (layer.weight.shape[1], layer.weight.shape[0])
        assert row.density == pytest.approx(float((layer.weight != 0).float().mean()), abs=1e-6)
    # addmm(bias, x, W): the bias is fused into every kernel.
    with new_context():
        module = ir.Module.parse(compiled.ir("kernels"))
        kernels = [Kernel(op) for op in walk_ops(module.operation) if is_kernel(op)]
        assert sorted(k.layer for k in kernels) == sorted(f"{name}.weight" for name in layers)
        assert all(k.bias is not None for k in kernels)


def _artifact_bytes(compiled, tmp_path) -> int:
    return (compiled.save(tmp_path / "gpt2") / "model.vmfb").stat().st_size


def test_tied_embedding_is_stored_once(tmp_path):
    model, args = gpt2(vocab=4096)
    head = model.gpt2.lm_head.weight
    assert head is model.gpt2.transformer.wte.weight
    weights = sum(p.numel() * p.element_size() for p in model.parameters())  # each tensor once
    tied = head.numel() * head.element_size()
    compiled = sparsile.compile(model, args, target="cpu")
    with torch.no_grad():
        expected = model(*args)
    torch.testing.assert_close(compiled(*args), expected, rtol=1e-4, atol=1e-5)
    # Twice would be weights + tied: IREE's data tiling stores a packed copy for the LM head.
    assert _artifact_bytes(compiled, tmp_path) < weights + tied // 4


def test_sparse_tied_head_keeps_the_dense_embedding(tmp_path):
    model, args = gpt2(vocab=4096)
    pruning.magnitude(model.gpt2.lm_head, 0.9)  # the embedding reads the pruned weight too
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    compiled = sparsile.compile(model, args, target="cpu", sparsity={"gpt2.lm_head": "csr"})
    with torch.no_grad():
        expected = model(*args)
    torch.testing.assert_close(compiled(*args), expected, rtol=1e-4, atol=1e-5)
    row = compiled.report["gpt2.lm_head.weight"]
    assert row.format == "csr"
    assert "the dense weight stays for its other readers (tied, 1024 KiB)" in row.storage
    # The head's sparse storage plus the dense weight the embedding gathers from.
    assert row.sparse_bytes > row.dense_bytes
    size = _artifact_bytes(compiled, tmp_path)
    assert weights < size < weights + row.sparse_bytes - row.dense_bytes + 256 * 1024
