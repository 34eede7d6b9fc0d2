"""A Hugging Face BERT built from a config (no download) compiles and matches eager."""

from __future__ import annotations

import pytest
import torch

import sparsile

transformers = pytest.importorskip("transformers")


def test_bert_from_config(tmp_path):
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    input_ids = torch.randint(0, 100, (2, 16))
    attention_mask = torch.ones(2, 16, dtype=torch.int64)
    attention_mask[1, 12:] = 0
    compiled = sparsile.compile(model, (input_ids, attention_mask))
    expected = model(input_ids, attention_mask)
    got = compiled(input_ids, attention_mask)
    assert type(got) is type(expected)
    torch.testing.assert_close(got.last_hidden_state, expected.last_hidden_state, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, rtol=1e-4, atol=1e-5)
    linalg = compiled.ir("linalg")
    # Non-persistent buffers (position_ids) and parameters are named constants.
    assert 'sparsile.name = "embeddings.position_ids"' in linalg
    assert 'sparsile.name = "encoder.layer.0.attention.self.query.weight"' in linalg

    # Saved and loaded, the output comes back as the same ModelOutput class (transformers is loaded
    # here), rebuilt from the manifest's plain structure; in a process without it, as a record.
    loaded = sparsile.load(compiled.save(tmp_path / "bert"))
    again = loaded(input_ids, attention_mask)
    assert type(again) is type(expected)
    torch.testing.assert_close(again.last_hidden_state, expected.last_hidden_state, rtol=1e-4, atol=1e-5)
    script = (
        "import sys, numpy as np, sparsile\n"
        f"model = sparsile.load({str(tmp_path / 'bert')!r})\n"
        "out = model(np.zeros((2, 16), np.int64), np.ones((2, 16), np.int64))\n"
        "assert 'transformers' not in sys.modules\n"
        "print(type(out).__name__, out.class_name, sorted(out), out.last_hidden_state.shape)\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OutputRecord BaseModelOutputWithPoolingAndCrossAttentions ['last_hidden_state', 'pooler_output'] (2, 16, 64)"
