"""Decoder LLMs: compile_causal_lm on Hugging Face Llama, GPT-2 and Qwen2 built from configs (random init, no downloads).

Greedy generation must be token for token what HF's ``generate(do_sample=False)`` returns,
for the dense models and for pruned ones (HF running the same pruned weights), with
prompts of several lengths on one artifact (longer than ``prefill_len`` too: prefilled
in chunks). Every pruned layer must be stored sparse in both functions, the weights
live in the parameter archive, the artifact loads back as a CausalLM, and the stock
``iree-run-module`` runs its prefill.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pruning
import pytest
import torch

import sparsile
from sparsile.errors import ArgumentError, ArtifactError, ModelSpecError

transformers = pytest.importorskip("transformers")

MAX_SEQ_LEN = 32
PREFILL_LEN = 16
VOCAB = 256
TOOLS = Path(sys.executable).parent


def _llama():
    torch.manual_seed(0)
    # A wide initialisation gives varied greedy tokens (at 0.02 a random model repeats one token).
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, initializer_range=0.3,
                                      eos_token_id=None, attn_implementation="eager")
    return transformers.LlamaForCausalLM(config).eval()


def _gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=MAX_SEQ_LEN, n_embd=64, n_layer=2, n_head=4,
                                     initializer_range=0.3, bos_token_id=0, eos_token_id=None, attn_implementation="eager")
    return transformers.GPT2LMHeadModel(config).eval()


def _qwen2_sliding():
    torch.manual_seed(0)
    # Layer 1 attends to a sliding window of 6 positions (layer_types from max_window_layers); q/k/v have biases.
    config = transformers.Qwen2Config(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, initializer_range=0.3,
                                      use_sliding_window=True, sliding_window=6, max_window_layers=1,
                                      eos_token_id=None, attn_implementation="eager")
    return transformers.Qwen2ForCausalLM(config).eval()


def _linear_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The decoder's projections (the LM head and embeddings stay dense, as pruning methods leave them)."""
    return {name: m for name, m in model.named_modules()
            if (isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D") and name != "lm_head"}


def _prompts() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    # Short, exactly one prefill, and longer than one prefill (two chunks).
    return [torch.randint(0, VOCAB, (1, n), generator=generator) for n in (3, PREFILL_LEN, 21)]


def _check_matches_hf(gen, model: torch.nn.Module) -> None:
    for prompt in _prompts():
        new = MAX_SEQ_LEN - prompt.shape[1]
        with torch.no_grad():
            expected = model.generate(prompt, max_new_tokens=new, do_sample=False)
        got = gen.generate(prompt, max_new_tokens=new)
        assert got.dtype == torch.int64
        assert got.tolist() == expected.tolist(), prompt.shape
        # A test that could not fail would see one token repeated.
        assert len(set(got[0, prompt.shape[1] :].tolist())) >= 4


def _check_sparse_everywhere(gen, layers: dict[str, torch.nn.Module]) -> None:
    rows = {(row.name, row.function): row for row in gen.report}
    for name in layers:
        for function in ("decode", "prefill"):
            row = rows[(f"{name}.weight", function)]
            assert row.format != "dense", (name, function, row.fallback)
            assert row.density < 0.6


@pytest.fixture(scope="module")
def llama_dense():
    model = _llama()
    return model, sparsile.compile_causal_lm(model, max_seq_len=MAX_SEQ_LEN, prefill_len=PREFILL_LEN, cache=False)


def test_llama_generates_hf_tokens(llama_dense):
    model, gen = llama_dense
    _check_matches_hf(gen, model)
    assert gen.stats.prompt_tokens == 21 and gen.stats.new_tokens == MAX_SEQ_LEN - 21
    manifest = gen.manifest
    assert manifest.entry == "decode" and set(manifest.functions) == {"prefill"}
    assert [(s.name, s.shape, s.dtype) for s in manifest.functions["prefill"]["inputs"]] == [
        ("input_ids", (1, PREFILL_LEN), "int64"), ("start", (), "int64"), ("length", (), "int64")]
    assert [(s.shape, s.dtype) for s in manifest.outputs] == [((1, VOCAB), "float32")]
    assert manifest.parameters == {"model": "model.irpa"}
    assert manifest.generation is not None and manifest.generation["max_seq_len"] == MAX_SEQ_LEN
    handoff = gen.ir("iree-handoff")
    # The cache is module state: four mutable globals (two layers, keys and values) that neither function returns.
    assert handoff.count("util.global private mutable @sparsile_state_") == 4
    assert 'util.func' not in handoff and "-> tensor<1x256xf32>" in handoff
    assert '#stream.parameter.named<"model"::"model.layers.1.mlp.down_proj.weight">' in handoff


def test_llama_prefill_and_decode_by_hand(llama_dense):
    model, gen = llama_dense
    prompt = _prompts()[0]
    with torch.no_grad():
        logits = model(prompt).logits[0]
    np.testing.assert_allclose(gen.prefill(prompt), logits[-1].numpy(), rtol=1e-4, atol=1e-4)
    token = int(logits[-1].argmax())
    with torch.no_grad():
        after = model(torch.cat([prompt, torch.tensor([[token]])], dim=1)).logits[0, -1]
    np.testing.assert_allclose(gen.decode(token, prompt.shape[1]), after.numpy(), rtol=1e-4, atol=1e-4)


def test_pruned_llama_is_sparse_and_matches_hf():
    model = _llama()
    layers = _linear_layers(model)
    assert len(layers) == 14
    for layer in layers.values():
        pruning.magnitude(layer, 0.7)
    # Requested, so both functions store every pruned layer sparse whatever these small layers' predicted times.
    gen = sparsile.compile_causal_lm(model, MAX_SEQ_LEN, prefill_len=PREFILL_LEN, cache=False, sparsity=dict.fromkeys(layers, "csr"))
    _check_sparse_everywhere(gen, layers)
    _check_matches_hf(gen, model)


def test_pruned_gpt2_is_sparse_and_matches_hf():
    model = _gpt2()
    layers = _linear_layers(model)
    assert len(layers) == 8
    for layer in layers.values():
        pruning.n_of_m(layer, 2, 4)
    gen = sparsile.compile_causal_lm(model, MAX_SEQ_LEN, prefill_len=PREFILL_LEN, cache=False, sparsity=dict.fromkeys(layers, "2:4"))
    _check_sparse_everywhere(gen, layers)
    _check_matches_hf(gen, model)


def test_quantized_pruned_llama_matches_hf_on_the_dequantized_weights():
    import copy

    from sparsile.passes.quantization import quantize, scheme

    model = _llama()
    for layer in _linear_layers(model).values():
        pruning.magnitude(layer, 0.7)
    gen = sparsile.compile_causal_lm(model, MAX_SEQ_LEN, prefill_len=PREFILL_LEN, cache=False, quantize="int8")
    assert {row.precision for row in gen.report} == {"int8"}
    # Every matmul weight (the LM head too) is stored as int8 with a scale per row: HF runs those values.
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for layer in reference.modules():
            if isinstance(layer, torch.nn.Linear):
                weight = layer.weight.numpy()
                layer.weight.copy_(torch.from_numpy(quantize(weight, scheme("int8")).dequantized().astype(np.float32)))
    _check_matches_hf(gen, reference)


def test_qwen2_sliding_window_matches_hf():
    model = _qwen2_sliding()
    assert [layer.self_attn.sliding_window for layer in model.model.layers] == [None, 6]
    gen = sparsile.compile_causal_lm(model, MAX_SEQ_LEN, prefill_len=PREFILL_LEN, cache=False)
    _check_matches_hf(gen, model)


def test_saved_artifact_generates_and_is_verified(llama_dense, tmp_path):
    model, gen = llama_dense
    directory = gen.save(tmp_path / "llama")
    assert sorted(p.name for p in directory.iterdir()) == ["ir", "manifest.json", "model.irpa", "model.vmfb"]
    loaded = sparsile.load(directory)
    assert isinstance(loaded, sparsile.runtime.CausalLM)
    prompt = _prompts()[2]
    assert loaded.generate(prompt.numpy(), max_new_tokens=5).tolist() == gen.generate(prompt, max_new_tokens=5).tolist()
    data = json.loads((directory / "manifest.json").read_text())
    assert data["generation"]["prefill_len"] == PREFILL_LEN and "prefill" in data["functions"]
    tampered = tmp_path / "tampered"
    shutil.copytree(directory, tampered)
    archive = bytearray((tampered / "model.irpa").read_bytes())
    archive[len(archive) // 2] ^= 0x40
    (tampered / "model.irpa").write_bytes(bytes(archive))
    with pytest.raises(ArtifactError, match=r"model\.irpa does not match the sha256"):
        sparsile.load(tampered)


def test_stock_tool_runs_the_prefill(llama_dense, tmp_path):
    _, gen = llama_dense
    directory = gen.save(tmp_path / "llama", include_ir=False)
    prompt = _prompts()[0].numpy()
    padded = np.zeros((1, PREFILL_LEN), np.int64)
    padded[:, : prompt.shape[1]] = prompt
    np.save(tmp_path / "ids.npy", padded)
    np.save(tmp_path / "expected.npy", gen.prefill(prompt)[None])
    result = subprocess.run(
        [str(TOOLS / "iree-run-module"), f"--module={directory / 'model.vmfb'}", f"--parameters=model={directory / 'model.irpa'}",
         "--device=local-task", "--function=prefill", f"--input=@{tmp_path / 'ids.npy'}", "--input=i64=0", f"--input=i64={prompt.shape[1]}",
         f"--expected_output=@{tmp_path / 'expected.npy'}"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0 and "[SUCCESS]" in result.stdout, result.stdout + result.stderr


def test_bad_calls_say_what_is_wrong(llama_dense):
    _, gen = llama_dense
    with pytest.raises(ArgumentError, match=r"input_ids: expected one sequence, shape \[1, n\] with n >= 1, got \[2, 4\]"):
        gen.generate(torch.zeros((2, 4), dtype=torch.int64), max_new_tokens=2)
    with pytest.raises(ArgumentError, match=r"a prompt of 30 tokens and 3 new ones need 33 positions; the model was compiled for max_seq_len=32"):
        gen.generate(torch.zeros((1, 30), dtype=torch.int64), max_new_tokens=3)
    with pytest.raises(ArgumentError, match=r"input_ids: token ids must lie in \[0, 256\), got 0\.\.256"):
        gen.generate(torch.tensor([[0, 256]]), max_new_tokens=1)
    with pytest.raises(ArgumentError, match="max_new_tokens must be a positive int, got 0"):
        gen.generate(torch.zeros((1, 2), dtype=torch.int64), max_new_tokens=0)


def test_bad_compiles_say_what_is_wrong():
    with pytest.raises(ModelSpecError, match=r"compile_causal_lm does not know Linear; it compiles Hugging Face LlamaForCausalLM, .*GPT2LMHeadModel"):
        sparsile.compile_causal_lm(torch.nn.Linear(4, 4), max_seq_len=8)
    model = _llama()
    with pytest.raises(ModelSpecError, match=r"prefill_len must be an int in \[1, max_seq_len=8\], got 9"):
        sparsile.compile_causal_lm(model, max_seq_len=8, prefill_len=9)
    with pytest.raises(ModelSpecError, match="compile_causal_lm sets parameters= itself; leave it out"):
        sparsile.compile_causal_lm(model, max_seq_len=8, parameters=False)
    with pytest.raises(ModelSpecError, match=r"max_seq_len=64 exceeds the 32 positions GPT-2 learned \(n_positions\)"):
        sparsile.compile_causal_lm(_gpt2(), max_seq_len=64)
