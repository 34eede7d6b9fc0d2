"""What a compile starts from: a torch module, an ExportedProgram, or MLIR (file or text)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .constants import inline_dense_resources
from .errors import ModelSpecError
from .mlir import ir
from .output_tree import OutputTree
from .parsing import parse_module


@dataclass
class Source:
    """A module in some stage, plus what the importer knows about its signature.

    IR of the ``iree-handoff`` stage is in IREE's dialects, which these bindings do
    not read: it is kept as it came (``handoff``) and ``module`` is None.
    """

    module: ir.Module | None
    stage: str
    source_name: str
    entry: str | None
    input_names: list[str] | None
    output_tree: OutputTree
    handoff: bytes | str | None = None
    #: Functions exported besides ``entry``, with their input names.
    functions: dict[str, list[str]] = field(default_factory=dict)
    #: A causal LM's generation settings, for the manifest.
    generation: dict[str, Any] | None = None


@dataclass
class ProgramSet:
    """Several exported programs compiled into one module, each the public function of its name.

    The functions read the same weights (stored once when their storage agrees).
    ``entry`` is the function the manifest describes first; ``input_names`` the inputs
    each function keeps; ``state_arguments`` and ``state_results`` mark, per function,
    arguments and results carried between calls as module state (index -> key, see
    :func:`sparsile.importer.set_state_keys`), which leave the function's signature.
    ``intents`` are the weights' declared patterns; ``generation`` goes to the manifest.
    """

    programs: dict[str, Any]
    entry: str
    input_names: dict[str, list[str]]
    state_arguments: dict[str, dict[int, str]] = field(default_factory=dict)
    state_results: dict[str, dict[int, str]] = field(default_factory=dict)
    intents: dict[str, str] = field(default_factory=dict)
    generation: dict[str, Any] | None = None
    name: str = "program set"


def load_source(
    model: Any, example_args: Sequence[Any], ctx: ir.Context, from_stage: str | None, entry: str | None, dynamic_shapes: Any = None
) -> Source:
    """Bring ``model`` into ``ctx`` as a module of its starting stage (MLIR input never imports torch).

    ``dynamic_shapes`` goes to torch.export with a ``torch.nn.Module``."""
    if isinstance(model, (str, os.PathLike, bytes)):
        text, name = _mlir_source(model)
        if from_stage == "iree-handoff":
            return Source(None, "iree-handoff", name, entry, None, OutputTree(None), handoff=text)
        module = parse_module(text, ctx, name)
        inline_dense_resources(module, text if isinstance(text, str) else None)
        return Source(module, from_stage or "linalg", name, entry, None, OutputTree(None))
    import torch
    from torch.export import ExportedProgram

    from .importer import ENTRY, FrozenGraph, export_program, import_graph, import_program, import_programs, set_state_keys

    if isinstance(model, ProgramSet):
        if from_stage not in (None, "linalg"):
            raise ModelSpecError(f"exported programs start at stage 'linalg', not '{from_stage}'")
        imported = import_programs(model.programs, ctx, model.intents)
        for function in model.programs:
            set_state_keys(imported.module, function, model.state_arguments.get(function, {}), model.state_results.get(function, {}))
        others = {name: names for name, names in model.input_names.items() if name != model.entry}
        return Source(imported.module, "linalg", model.name, model.entry, model.input_names[model.entry], OutputTree(None),
                      functions=others, generation=model.generation)
    if isinstance(model, FrozenGraph):
        imported = import_graph(model, ctx)
        return Source(imported.module, "linalg", "graph", ENTRY, imported.input_names, imported.output_tree)
    if isinstance(model, (torch.nn.Module, ExportedProgram)):
        if from_stage not in (None, "linalg"):
            raise ModelSpecError(f"a torch model starts at stage 'linalg', not '{from_stage}'")
        intents: dict[str, str] = {}
        if isinstance(model, ExportedProgram):
            if dynamic_shapes is not None:
                raise ModelSpecError("an ExportedProgram brings its own dynamic shapes: dynamic_shapes= applies to a torch.nn.Module")
            program = model
        else:
            program, intents = export_program(model, example_args, dynamic_shapes)
        imported = import_program(program, ctx, intents)
        return Source(imported.module, "linalg", type(model).__name__, ENTRY, imported.input_names, imported.output_tree)
    raise ModelSpecError(
        f"cannot compile a {type(model).__name__}; expected a torch.nn.Module, an ExportedProgram, "
        "MLIR text or the path of an .mlir/.mlirbc file"
    )


def _mlir_source(model: str | os.PathLike[str] | bytes) -> tuple[str | bytes, str]:
    if isinstance(model, bytes):
        return model, "<bytecode>"
    if isinstance(model, str) and ("\n" in model or "{" in model):
        return model, "<string>"
    path = Path(model)
    if not path.is_file():
        raise ModelSpecError(f"{path}: no such MLIR file")
    data = path.read_bytes()
    # MLIR bytecode starts with the magic "ML\xefR".
    return (data if data.startswith(b"ML\xefR") else data.decode()), str(path)
