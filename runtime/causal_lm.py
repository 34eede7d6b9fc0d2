"""Greedy generation with a compiled causal LM: the prompt through ``prefill``, then ``decode`` token by token.

An artifact of :func:`sparsile.compile_causal_lm` exports two functions over the same
weights, both ``(input_ids int64[1, n], start int64[], length int64[]) -> logits float32[1, vocab]``:
``prefill`` takes ``prefill_len`` tokens (a prompt chunk padded with zeros, ``length`` of
them real) and ``decode`` one; ``start`` is the position of the first, and the logits are
those of the last real token. The KV cache is state of the module (mutable globals of
``[1, kv_heads, max_seq_len, head_dim]`` per layer, keys and values): each call writes
its tokens' keys and values at their positions and attends to every position before
them, so the cache stays in device memory between calls and never crosses the call
boundary. One sequence at a time per loaded model: a new ``generate`` starts over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArgumentError
from .loaded_model import LoadedModel

PREFILL = "prefill"
DECODE = "decode"


@dataclass
class GenerationStats:
    """Wall times of the last :meth:`CausalLM.generate`: the prompt's prefill and the decode steps."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        """Tokens per second of the decode steps (each step produces one token)."""
        steps = max(self.new_tokens - 1, 0)
        return steps / self.decode_seconds if self.decode_seconds > 0 else 0.0


class CausalLM(LoadedModel):
    """A compiled decoder: ``generate(input_ids, max_new_tokens=N)`` returns what Hugging Face's
    greedy ``generate(do_sample=False)`` returns (the prompt and the new tokens, stopping
    after an end-of-sequence token).

    Calling the model itself runs ``decode`` (its manifest's entry); ``prefill`` and
    ``decode`` are also methods taking token ids and positions as Python values.
    """

    stats: GenerationStats

    @property
    def max_seq_len(self) -> int:
        """Positions the KV cache holds: the prompt and the generated tokens together."""
        return int(self._generation["max_seq_len"])

    @property
    def prefill_len(self) -> int:
        """Tokens one ``prefill`` call takes; longer prompts are prefilled in chunks."""
        return int(self._generation["prefill_len"])

    @property
    def vocab_size(self) -> int:
        return int(self._generation["vocab_size"])

    @property
    def eos_token_ids(self) -> list[int]:
        """Tokens that end generation (from the model's ``generation_config``)."""
        return [int(t) for t in self._generation.get("eos_token_ids", [])]

    @property
    def _generation(self) -> dict[str, Any]:
        generation = self.manifest.generation
        if generation is None:
            raise ArgumentError("this artifact is not a causal LM (its manifest has no 'generation')")
        return generation

    def prefill(self, input_ids: Any, start: int = 0) -> np.ndarray:
        """Write the keys and values of ``input_ids`` (``[1, n]``, ``n >= 1``) at positions ``start...``; the logits
        ``[vocab]`` after the last one. Prompts longer than ``prefill_len`` run as several chunks."""
        ids = self._token_array(input_ids)
        count = ids.shape[1]
        if start < 0 or start + count > self.max_seq_len:
            raise ArgumentError(f"positions {start}..{start + count - 1} do not fit the KV cache of {self.max_seq_len} positions")
        chunk = self.prefill_len
        logits = np.empty(0, np.float32)
        for offset in range(0, count, chunk):
            part = ids[:, offset : offset + chunk]
            padded = np.zeros((1, chunk), np.int64)
            padded[:, : part.shape[1]] = part
            logits = self._step(PREFILL, padded, start + offset, part.shape[1])
        return logits

    def decode(self, token: int, position: int) -> np.ndarray:
        """Write the key and value of ``token`` at ``position`` and return the logits ``[vocab]`` after it."""
        if not 0 <= position < self.max_seq_len:
            raise ArgumentError(f"position {position} is outside the KV cache of {self.max_seq_len} positions")
        if not 0 <= token < self.vocab_size:
            raise ArgumentError(f"token {token} is outside the vocabulary of {self.vocab_size}")
        return self._step(DECODE, np.array([[token]], np.int64), position, 1)

    def generate(self, input_ids: Any, max_new_tokens: int, eos_token_id: int | list[int] | None = None) -> Any:
        """Greedy decoding: ``input_ids`` (``[1, n]``, torch or numpy) followed by up to ``max_new_tokens`` tokens.

        Generation stops after an end-of-sequence token (``eos_token_id``, default the
        model's own). The result is of the input's kind, int64. ``stats`` holds the
        timings. The prompt and the new tokens must fit ``max_seq_len`` positions.
        """
        as_torch = type(input_ids).__module__.startswith("torch")
        ids = self._token_array(input_ids)
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ArgumentError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
        count = ids.shape[1]
        if count + max_new_tokens > self.max_seq_len:
            raise ArgumentError(
                f"a prompt of {count} tokens and {max_new_tokens} new ones need {count + max_new_tokens} positions; "
                f"the model was compiled for max_seq_len={self.max_seq_len}"
            )
        stops = set(self.eos_token_ids if eos_token_id is None else ([eos_token_id] if isinstance(eos_token_id, int) else eos_token_id))
        stats = GenerationStats(prompt_tokens=count)
        started = time.perf_counter()
        logits = self.prefill(ids)
        stats.prefill_seconds = time.perf_counter() - started
        tokens = list(ids[0])
        started = time.perf_counter()
        for step in range(max_new_tokens):
            token = int(np.argmax(logits))  # the first maximum, as torch.argmax
            tokens.append(token)
            stats.new_tokens += 1
            if token in stops or step == max_new_tokens - 1:
                break
            logits = self.decode(token, count + step)
        stats.decode_seconds = time.perf_counter() - started
        self.stats = stats
        out = np.array([tokens], np.int64)
        if as_torch:
            import torch

            return torch.from_numpy(out)
        return out

    def _step(self, function: str, ids: np.ndarray, start: int, length: int) -> np.ndarray:
        results = self.runtime_module()([ids, np.array(start, np.int64), np.array(length, np.int64)], function=function)
        return results[0][0]

    def _token_array(self, input_ids: Any) -> np.ndarray:
        if type(input_ids).__module__.startswith("torch"):
            input_ids = input_ids.detach().cpu().numpy()
        if not isinstance(input_ids, np.ndarray):
            raise ArgumentError(f"input_ids: expected a torch.Tensor or numpy.ndarray of token ids, got {type(input_ids).__name__}")
        if input_ids.ndim != 2 or input_ids.shape[0] != 1 or input_ids.shape[1] < 1:
            raise ArgumentError(f"input_ids: expected one sequence, shape [1, n] with n >= 1, got {list(input_ids.shape)}")
        if not np.issubdtype(input_ids.dtype, np.integer):
            raise ArgumentError(f"input_ids: expected integer token ids, got {input_ids.dtype}")
        ids = input_ids.astype(np.int64)
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ArgumentError(f"input_ids: token ids must lie in [0, {self.vocab_size}), got {ids.min()}..{ids.max()}")
        return ids
