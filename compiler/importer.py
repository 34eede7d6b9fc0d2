"""The importer: a ``torch.nn.Module`` or ``ExportedProgram`` to linalg-on-tensors MLIR.

The route is torch.export, torch-mlir's decompositions and FX importer, then
torch-mlir's own pipelines down to linalg. A literal hook imports every weight
as a dense constant (readable as numpy by later passes, see
:mod:`sparsile.constants`) and the constant is tagged with the weight's
name in the module (``fc1.weight``). The pipelines are run here rather
than through ``torch_mlir.fx.export_and_import`` so that an operator without a
lowering surfaces as an :class:`UnsupportedOpError` naming it and the user's
source line, instead of text on stderr and a file in /tmp.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.export import ExportedProgram
from torch_mlir.extras.fx_decomp_util import get_decomposition_table
from torch_mlir.extras.fx_importer import FxImporter, FxImporterHooks

from .constants import INTENT_ATTR, NAME_ATTR
from .dialects.formats import BLOCK_SIZES
from .errors import ModelImportError, UnsupportedOpError, warn_user
from .mlir import format_location, ir, passmanager
from .passes.ir_query import walk_ops
from .output_tree import OutputTree

ENTRY = "main"

_TORCH_BACKEND = (
    "builtin.module(func.func(torch-match-quantized-custom-ops),"
    "torchdynamo-export-to-torch-backend-pipeline{ extra-library=})"
)
_LINALG_BACKEND = "builtin.module(torch-backend-to-linalg-on-tensors-backend-pipeline{allow-non-finites=true})"


@dataclass
class ImportedModel:
    """The linalg module of a torch program and what the runtime needs to call it like torch."""

    module: ir.Module
    input_names: list[str]
    output_tree: OutputTree


def export_program(model: torch.nn.Module, example_args: Sequence[Any]) -> tuple[ExportedProgram, dict[str, str]]:
    """torch.export ``model`` in eval mode on ``example_args`` (the module is left as it was).

    Weights stored in torch sparse layouts (CSR, BSR, COO) are exported dense; the
    returned ``{weight name: pattern}`` keeps what their layout said.
    """
    for i, arg in enumerate(example_args):
        if not isinstance(arg, torch.Tensor):
            raise ModelImportError(
                f"example argument {i} is a {type(arg).__name__}; sparsile compiles functions of tensors "
                "(bind other values in a wrapper module)"
            )
    was_training = model.training
    if was_training:
        warn_user(f"{type(model).__name__} is in training mode; sparsile compiles it for inference, as model.eval()")
    model.eval()
    swapped = _densify_sparse_parameters(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            # torch.nn.utils.prune's hook assigns module.weight in forward; that is expected here.
            warnings.filterwarnings("ignore", message=r"The tensor attributes? .* (was|were) assigned during export")
            program = torch.export.export(model, tuple(example_args), strict=False)
    except Exception as err:  # torch.export raises many types; all mean "cannot trace"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelImportError(f"torch.export could not trace {type(model).__name__}: {first}") from err
    finally:
        model.train(was_training)
        for owner, attr, original, _ in swapped:
            setattr(owner, attr, original)
    return program, {name: pattern for _, _, _, (name, pattern) in swapped}


def _sparse_layout_pattern(tensor: torch.Tensor) -> str:
    if tensor.layout is torch.sparse_bsr:
        block = tensor.values().shape[-2:]
        if block[0] == block[1] and block[0] in BLOCK_SIZES:
            return f"bsr{block[0]}"
    return "csr"


def _densify_sparse_parameters(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str, Any, tuple[str, str]]]:
    """Swap sparse-layout parameters for dense ones; returns what to restore and each weight's pattern."""
    swapped = []
    for module_name, module in model.named_modules():
        for attr, value in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            if value is None or value.layout is torch.strided:
                continue
            dense = value.detach().to_dense()
            replacement = torch.nn.Parameter(dense, requires_grad=False) if isinstance(value, torch.nn.Parameter) else dense
            full = f"{module_name}.{attr}" if module_name else attr
            swapped.append((module, attr, value, (full, _sparse_layout_pattern(value))))
            setattr(module, attr, replacement)
    return swapped


def import_program(program: ExportedProgram, ctx: ir.Context, intents: dict[str, str] | None = None) -> ImportedModel:
    """Import an ExportedProgram into ``ctx`` and lower it to linalg-on-tensors.

    ``intents`` maps weight names to the pattern the user declared for them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if not _has_sparse_inputs(program):
            # torch's decompositions do not handle sparse layouts (e.g. sum or mv of CSR/BSR).
            program = program.run_decompositions(get_decomposition_table())
        _expose_non_persistent_buffers(program)
        hooks = _DenseWeights(_state_names(program))
        importer = FxImporter(context=ctx, hooks=hooks)
        try:
            importer.import_frozen_program(program, func_name=ENTRY)
        except Exception as err:
            raise ModelImportError(f"torch-mlir could not import the program: {err}") from err
    module = _to_linalg(importer, hooks, ctx, intents or {})
    input_names = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    return ImportedModel(module, input_names, OutputTree.from_program(program))


def _has_sparse_inputs(program: ExportedProgram) -> bool:
    for node in program.graph.nodes:
        value = node.meta.get("val") if node.op == "placeholder" else None
        if isinstance(value, torch.Tensor) and value.layout is not torch.strided:
            return True
    return False


def _state_names(program: ExportedProgram) -> dict[int, str]:
    """id(tensor) -> its name in the module, for parameters, buffers and lifted constants."""
    names = {id(t): name for name, t in program.constants.items() if isinstance(t, torch.Tensor)}
    names.update({id(t): name for name, t in program.state_dict.items()})
    return names


def _expose_non_persistent_buffers(program: ExportedProgram) -> None:
    """Make buffers outside the state dict (``persistent=False``) visible to the frozen import.

    torch.export keeps them in ``program.constants``; torch-mlir's frozen import
    looks only in the state dict and fails with "Could not find state mapping".
    """
    for state_name in program.graph_signature.inputs_to_buffers.values():
        if state_name not in program.state_dict and state_name in program.constants:
            program.state_dict[state_name] = program.constants[state_name]


class _DenseWeights(FxImporterHooks):
    """Imports weights as DenseElementsAttr literals and remembers each one's name."""

    def __init__(self, names: dict[int, str]):
        self._names = names
        self._attr_names: dict[ir.Attribute, str] = {}

    def resolve_literal(self, gni: Any, literal: Any, info: Any) -> ir.Value | None:
        name = self._names.get(id(literal)) if isinstance(literal, torch.Tensor) else None
        if name is None or literal.dtype not in _NUMPY_DTYPES:
            return None  # torch-mlir's default (a dense_resource) for anything else
        array = literal.detach().cpu().contiguous().numpy()
        attr = ir.DenseElementsAttr.get(array)
        self._attr_names.setdefault(attr, name)
        vtensor = gni._cc.get_vtensor_type(literal.size(), literal.dtype)
        op = ir.Operation.create("torch.vtensor.literal", results=[vtensor], attributes={"value": attr})
        return op.result

    def tag_constants(self, module: ir.Module, intents: dict[str, str]) -> None:
        """Put ``sparsile.name`` (and a declared ``sparsile.intent``) on each constant holding a named weight."""
        with module.context:
            for op in walk_ops(module.operation):
                if op.name == "arith.constant":
                    name = self._attr_names.get(op.attributes["value"])
                    if name is not None:
                        op.attributes[NAME_ATTR] = ir.StringAttr.get(name)
                        if name in intents:
                            op.attributes[INTENT_ATTR] = ir.StringAttr.get(intents[name])


_NUMPY_DTYPES = (torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32, torch.int64)


def _to_linalg(importer: FxImporter, hooks: _DenseWeights, ctx: ir.Context, intents: dict[str, str]) -> ir.Module:
    """Lower an imported torch-dialect module to linalg and tag its weight constants."""
    module = importer.module
    _lower(module, ctx, _TORCH_BACKEND)
    _lower(module, ctx, _LINALG_BACKEND)
    hooks.tag_constants(module, intents)
    return module


def _lower(module: ir.Module, ctx: ir.Context, pipeline: str) -> None:
    with ctx:
        try:
            passmanager.PassManager.parse(pipeline).run(module.operation)
        except ir.MLIRError as err:
            raise _import_error(err) from None


_OPERATOR_NAME = re.compile(r'name = "torch\.([\w.]+)"')
_ILLEGAL_OP = re.compile(r"failed to legalize operation '(torch\.[\w.]+)'")


def _import_error(err: ir.MLIRError) -> ModelImportError:
    for diag in err.error_diagnostics:
        m = _OPERATOR_NAME.search(diag.message) or _ILLEGAL_OP.search(diag.message)
        if m:
            op = m.group(1).removeprefix("torch.")
            where = format_location(diag.location)
            detail = f"used at {where}" if where and not where.startswith("loc(") else ""
            return UnsupportedOpError(op, detail)
    messages = "\n".join(f"{format_location(d.location)}: {d.message}" for d in err.error_diagnostics)
    return ModelImportError(f"torch-mlir could not lower the program to linalg:\n{messages or err}")


@dataclass
class FrozenGraph:
    """An aten FX graph whose placeholders at ``frozen`` positions are frozen to named tensors."""

    graph_module: torch.fx.GraphModule
    frozen: dict[int, tuple[str, torch.Tensor]]
    output_count: int


def import_graph(graph: FrozenGraph, ctx: ir.Context) -> ImportedModel:
    """Import an aten graph (from aot_autograd) with its frozen inputs as named dense constants."""
    gm = graph.graph_module
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    names = {}
    user_names = []
    for index, node in enumerate(placeholders):
        if index in graph.frozen:
            name, tensor = graph.frozen[index]
            names[id(tensor)] = name
            node.replace_all_uses_with(tensor)
            gm.graph.erase_node(node)
        else:
            user_names.append(node.name)
    gm.recompile()
    hooks = _DenseWeights(names)
    importer = FxImporter(context=ctx, hooks=hooks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            importer.import_stateless_graph(gm.graph, func_name=ENTRY)
        except Exception as err:
            raise ModelImportError(f"torch-mlir could not import the graph: {err}") from err
    module = _to_linalg(importer, hooks, ctx, {})
    return ImportedModel(module, user_names, OutputTree(None))
