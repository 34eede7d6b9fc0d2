"""A Hugging Face causal LM as one static-shaped step over a fixed KV cache, for torch.export.

HF's own forward keeps its keys and values in a ``DynamicCache`` that grows by a token
per step, so every step has new shapes. A :class:`DecoderStep` takes ``tokens`` token
ids at positions ``start, start + 1, ...`` (the first ``length`` of them real, the rest
padding) and the cache as tensors of a fixed shape, ``[1, kv_heads, max_seq_len,
head_dim]`` per layer for keys and for values. It writes the real tokens' keys and values
at their positions and returns the logits of the last real token with the updated cache.

It runs the model's own modules: embeddings, each decoder layer (its attention,
projections, norms and MLP), the final norm and the LM head, in eager attention. Each
attention layer gets a cache object whose ``update`` writes its keys and values at the
step's positions (a select over the cache: static shapes, no scatter) and returns the
whole cache, and an additive mask that lets a token at position ``p`` see the positions
``<= p`` (and, with a sliding window ``w``, ``> p - w``). Positions after the last
written one hold stale or zero values that the mask hides, so one step function serves
any position.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import ModelSpecError

#: Hugging Face model classes served, by how their decoder is laid out.
ROPE_DECODERS = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM")
GPT2_DECODERS = ("GPT2LMHeadModel",)


def check_supported(model: nn.Module) -> str:
    """The decoder family of ``model`` (``rope`` or ``gpt2``); ModelSpecError for any other model."""
    name = type(model).__name__
    if name in ROPE_DECODERS:
        return "rope"
    if name in GPT2_DECODERS:
        return "gpt2"
    served = ", ".join((*ROPE_DECODERS, *GPT2_DECODERS))
    raise ModelSpecError(f"compile_causal_lm does not know {name}; it compiles Hugging Face {served}")


def cache_shape(model: nn.Module, max_seq_len: int) -> tuple[int, int, int, int]:
    """The shape of one layer's key (or value) cache: ``[1, kv_heads, max_seq_len, head_dim]``."""
    config = model.config
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return (1, kv_heads, max_seq_len, head_dim)


def layer_count(model: nn.Module) -> int:
    return len(_layers(model))


class DecoderStep(nn.Module):
    """``forward(input_ids [1, tokens], start [], length [], *cache) -> (logits [1, vocab], *cache)``.

    ``cache`` is each layer's keys then values (``2 * layers`` tensors of
    :func:`cache_shape`). The model's top-level modules are this module's children under
    their own names, so weights keep the names of the model's ``state_dict``.
    """

    def __init__(self, model: nn.Module, tokens: int, max_seq_len: int):
        super().__init__()
        self.family = check_supported(model)
        for name, child in model.named_children():
            self.add_module(name, child)
        self.config = model.config
        self.tokens = tokens
        self.max_seq_len = max_seq_len
        self.windows = [_sliding_window(model, layer) for layer in _layers(model)]

    def forward(self, input_ids: torch.Tensor, start: torch.Tensor, length: torch.Tensor, *cache: torch.Tensor) -> tuple[torch.Tensor, ...]:
        positions = start + torch.arange(self.tokens, dtype=torch.int64)
        step_cache = StepCache(list(cache[0::2]), list(cache[1::2]), start, length, self.max_seq_len)
        hidden = self._embed(input_ids, positions)
        rotary = self.model.rotary_emb(hidden, positions[None]) if self.family == "rope" else None
        keys = torch.arange(self.max_seq_len, dtype=torch.int64)
        masks: dict[int | None, torch.Tensor] = {}
        for index, layer in enumerate(_layers(self)):
            window = self.windows[index]
            if window not in masks:
                masks[window] = _additive_mask(positions, keys, window, hidden.dtype)
            if rotary is not None:
                out = layer(hidden, attention_mask=masks[window], position_ids=positions[None], cache=step_cache, position_embeddings=rotary)
            else:
                out = layer(hidden, cache=step_cache, attention_mask=masks[window])
            hidden = out[0] if isinstance(out, tuple) else out
        hidden = self._final_norm(hidden)
        last = hidden.index_select(1, (length - 1).reshape(1))
        logits = self.lm_head(last)[:, 0, :]
        return (logits, *[t for pair in zip(step_cache.keys, step_cache.values) for t in pair])

    def _embed(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if self.family == "rope":
            return self.model.embed_tokens(input_ids)
        transformer = self.transformer
        # Padding tokens may sit past the learned positions: clamp them (their results are never read).
        clamped = positions.clamp(max=self.config.n_positions - 1)
        return transformer.drop(transformer.wte(input_ids) + transformer.wpe(clamped)[None])

    def _final_norm(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.model.norm(hidden) if self.family == "rope" else self.transformer.ln_f(hidden)


class StepCache:
    """What a decoder layer's attention sees as its cache: ``update`` writes the step's keys and values.

    Positions ``start ... start + length - 1`` take the step's tokens (token ``p - start``
    at position ``p``); every other position keeps the cache's value. The updated
    tensors replace the layer's entries, for the step to return.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], start: torch.Tensor, length: torch.Tensor, max_seq_len: int):
        self.keys = keys
        self.values = values
        offset = torch.arange(max_seq_len, dtype=torch.int64) - start
        self._written = ((offset >= 0) & (offset < length))[None, None, :, None]
        self._source = offset

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        source = self._source.clamp(0, key.shape[2] - 1)
        new_key = torch.where(self._written, key.index_select(2, source), self.keys[layer_idx])
        new_value = torch.where(self._written, value.index_select(2, source), self.values[layer_idx])
        self.keys[layer_idx] = new_key
        self.values[layer_idx] = new_value
        return new_key, new_value


def _additive_mask(positions: torch.Tensor, keys: torch.Tensor, window: int | None, dtype: torch.dtype) -> torch.Tensor:
    """``[1, 1, tokens, max_seq_len]``: 0 where a token may attend, the dtype's minimum elsewhere (as HF's eager masks)."""
    allowed = keys[None, :] <= positions[:, None]
    if window is not None:
        allowed = allowed & (keys[None, :] > positions[:, None] - window)
    zero = torch.zeros((), dtype=dtype)
    blocked = torch.full((), torch.finfo(dtype).min, dtype=dtype)
    return torch.where(allowed, zero, blocked)[None, None]


def _layers(model: nn.Module) -> nn.ModuleList:
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "layers"):
        return inner.layers
    return model.transformer.h


def _sliding_window(model: nn.Module, layer: nn.Module) -> int | None:
    """The attention window of ``layer`` (None: it sees every earlier position), as HF masks it."""
    window = getattr(getattr(layer, "self_attn", None), "sliding_window", None)  # Qwen2: per layer
    if window is None and type(model).__name__ == "MistralForCausalLM":
        window = getattr(model.config, "sliding_window", None)
    return int(window) if window is not None else None
