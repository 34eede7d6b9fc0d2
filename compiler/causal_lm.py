"""``sparsile.compile_causal_lm``: a Hugging Face decoder as one artifact that generates text.

The model is exported twice as a :class:`~sparsile.decoder_step.DecoderStep`: ``prefill``
over ``prefill_len`` tokens and ``decode`` over one, each taking the KV cache of
``max_seq_len`` positions and returning it updated. Both become functions of one module
(:class:`~sparsile.sources.ProgramSet`), and go through the usual stages: sparsity
detection, ``schedule`` per kernel (a decode kernel sees one row, a prefill kernel
``prefill_len``), ``quantize``, the report. At the hand-off the weights move into a
parameter archive, read by both functions through the same globals (a storage both
functions chose is stored once), and the cache arguments and results become mutable
globals: the KV cache lives in device memory inside the loaded module and never
crosses a call. Prompts of any length up to ``max_seq_len`` run on the same artifact
(in chunks of ``prefill_len``), without recompiling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .decoder_step import DecoderStep, cache_shape, check_supported, layer_count
from .errors import ModelSpecError, warn_user
from .options import CompileOptions
from .runtime.causal_lm import DECODE, PREFILL
from .sources import ProgramSet

if TYPE_CHECKING:
    from .compiled_model import CompiledCausalLM

#: The inputs both step functions keep once the cache is module state.
STEP_INPUTS = ["input_ids", "start", "length"]

#: generation_config fields that make HF's greedy search differ from a plain argmax, with their neutral values.
_GREEDY_NEUTRAL: dict[str, Any] = {
    "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "min_length": 0,
    "min_new_tokens": None,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "bad_words_ids": None,
}


def compile_causal_lm(
    model: torch.nn.Module,
    max_seq_len: int,
    target: str | None = None,
    *,
    prefill_len: int | None = None,
    options: CompileOptions | None = None,
    **kwargs: Any,
) -> CompiledCausalLM:
    """Compile a Hugging Face causal LM (Llama, Mistral, Qwen2, GPT-2) into an artifact that generates.

    ``max_seq_len`` is how many positions the static KV cache holds (prompt and new
    tokens together); ``prefill_len`` (default ``max_seq_len``) how many prompt tokens one
    prefill call takes. The result's ``generate(input_ids, max_new_tokens=N)`` returns
    the tokens of Hugging Face's greedy ``generate(do_sample=False)``. Keyword arguments
    are :class:`CompileOptions` fields (``sparsity``, ``quantize``, ``tune``, ``cache``...);
    the weights always go into a parameter archive (``model.irpa``).
    """
    from .driver import compile_model

    family = check_supported(model)
    if not isinstance(max_seq_len, int) or max_seq_len < 1:
        raise ModelSpecError(f"max_seq_len must be a positive int, got {max_seq_len!r}")
    prefill_len = max_seq_len if prefill_len is None else prefill_len
    if not isinstance(prefill_len, int) or not 1 <= prefill_len <= max_seq_len:
        raise ModelSpecError(f"prefill_len must be an int in [1, max_seq_len={max_seq_len}], got {prefill_len!r}")
    if family == "gpt2" and max_seq_len > model.config.n_positions:
        raise ModelSpecError(f"max_seq_len={max_seq_len} exceeds the {model.config.n_positions} positions GPT-2 learned (n_positions)")
    for name in ("entry", "dynamic_shapes", "from_stage", "parameters"):
        if kwargs.get(name) is not None:
            raise ModelSpecError(f"compile_causal_lm sets {name}= itself; leave it out")
    if target is not None:
        kwargs["target"] = target
    resolved = CompileOptions.from_kwargs(options, {**kwargs, "entry": DECODE, "parameters": True})
    if resolved.target.is_native:
        raise ModelSpecError("compile_causal_lm compiles for IREE targets (cpu, cuda, rocm, vulkan), not native-cpu")
    _warn_unlike_greedy(model)
    programs, intents = _export_steps(model, max_seq_len, prefill_len)
    layers = layer_count(model)
    cache_args = {3 + i: _state_key(i) for i in range(2 * layers)}
    cache_results = {1 + i: _state_key(i) for i in range(2 * layers)}
    dtype = next(model.parameters()).dtype
    generation = {
        "family": family,
        "max_seq_len": max_seq_len,
        "prefill_len": prefill_len,
        "vocab_size": int(model.config.vocab_size),
        "eos_token_ids": _eos_tokens(model),
        "layers": layers,
        "cache_shape": list(cache_shape(model, max_seq_len)),
        "cache_dtype": str(dtype).removeprefix("torch."),
    }
    programs_set = ProgramSet(
        programs=programs,
        entry=DECODE,
        input_names={name: list(STEP_INPUTS) for name in programs},
        state_arguments={name: cache_args for name in programs},
        state_results={name: cache_results for name in programs},
        intents=intents,
        generation=generation,
        name=type(model).__name__,
    )
    return compile_model(programs_set, (), resolved)  # type: ignore[return-value]


def _state_key(index: int) -> str:
    """The state key of cache tensor ``index`` (each layer's keys, then its values)."""
    return f"layers.{index // 2}.{'keys' if index % 2 == 0 else 'values'}"


def _export_steps(model: torch.nn.Module, max_seq_len: int, prefill_len: int) -> tuple[dict[str, Any], dict[str, str]]:
    """torch.export the decode and prefill steps (decode first: the report lists its rows first)."""
    from .importer import export_program

    config = model.config
    was_training = model.training
    attention = getattr(config, "_attn_implementation", None)
    dtype = next(model.parameters()).dtype
    shape = cache_shape(model, max_seq_len)
    programs: dict[str, Any] = {}
    intents: dict[str, str] = {}
    model.eval()
    try:
        # Eager attention: the mask is ours, and torch-mlir lowers its matmuls and softmax to linalg.
        config._attn_implementation = "eager"
        for name, tokens in ((DECODE, 1), (PREFILL, prefill_len)):
            step = DecoderStep(model, tokens, max_seq_len).eval()
            cache = [torch.zeros(shape, dtype=dtype) for _ in range(2 * layer_count(model))]
            args = (torch.zeros((1, tokens), dtype=torch.int64), torch.tensor(0), torch.tensor(tokens), *cache)
            with torch.no_grad():
                programs[name], intents = export_program(step, args)
    finally:
        config._attn_implementation = attention
        model.train(was_training)
    return programs, intents


def _eos_tokens(model: torch.nn.Module) -> list[int]:
    config = getattr(model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None) if config is not None else None
    if eos is None:
        return []
    return [int(t) for t in (eos if isinstance(eos, (list, tuple)) else [eos])]


def _warn_unlike_greedy(model: torch.nn.Module) -> None:
    config = getattr(model, "generation_config", None)
    if config is None:
        return
    differs = [name for name, neutral in _GREEDY_NEUTRAL.items() if getattr(config, name, neutral) not in (neutral, None)]
    if differs:
        warn_user(
            f"{type(model).__name__}.generation_config sets {', '.join(differs)}; generate() does plain greedy search "
            "(argmax per step), so its tokens differ from Hugging Face's generate with these settings"
        )
