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

from .constants import NAME_ATTR
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


def export_program(model: torch.nn.Module, example_args: Sequence[Any]) -> ExportedProgram:
    """torch.export ``model`` in eval mode on ``example_args`` (the module's mode is restored)."""
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.export.export(model, tuple(example_args), strict=False)
    except Exception as err:  # torch.export raises many types; all mean "cannot trace"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelImportError(f"torch.export could not trace {type(model).__name__}: {first}") from err
    finally:
        model.train(was_training)


def import_program(program: ExportedProgram, ctx: ir.Context) -> ImportedModel:
    """Import an ExportedProgram into ``ctx`` and lower it to linalg-on-tensors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = program.run_decompositions(get_decomposition_table())
        _expose_non_persistent_buffers(program)
        hooks = _DenseWeights(_state_names(program))
        importer = FxImporter(context=ctx, hooks=hooks)
        try:
            importer.import_frozen_program(program, func_name=ENTRY)
        except Exception as err:
            raise ModelImportError(f"torch-mlir could not import the program: {err}") from err
    module = importer.module
    _lower(module, ctx, _TORCH_BACKEND)
    _lower(module, ctx, _LINALG_BACKEND)
    hooks.tag_constants(module)
    input_names = [
        spec.arg.name
        for spec in program.graph_signature.input_specs
        if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT
    ]
    return ImportedModel(module, input_names, OutputTree.from_program(program))


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

    def tag_constants(self, module: ir.Module) -> None:
        """Put ``sparsile.name`` on each lowered constant that holds a named weight."""
        with module.context:
            for op in walk_ops(module.operation):
                if op.name == "arith.constant":
                    name = self._attr_names.get(op.attributes["value"])
                    if name is not None:
                        op.attributes[NAME_ATTR] = ir.StringAttr.get(name)


_NUMPY_DTYPES = (torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32, torch.int64)


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
