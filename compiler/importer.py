"""The importer: a ``torch.nn.Module`` or ``ExportedProgram`` to linalg-on-tensors MLIR.

The route is torch.export, torch-mlir's decompositions and FX importer, then
torch-mlir's own pipelines down to linalg. Every parameter and buffer is imported
as a function argument and, once the module is linalg, replaced by a dense
constant (readable as numpy by later passes, see :mod:`sparsile.constants`)
tagged with the weight's name from the graph signature (``fc1.weight``). The pipelines are run here rather
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

from .constants import BOUNDS_ATTR, INTENT_ATTR, NAME_ATTR, STATE_ATTR
from .dialects.patterns import BLOCK_SIZES
from .errors import ModelImportError, UnsupportedOpError, warn_user
from .mlir import arith, format_location, ir, passmanager
from .output_tree import OutputTree
from .passes.ir_query import symbol_name, walk_ops

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


def export_program(
    model: torch.nn.Module, example_args: Sequence[Any], dynamic_shapes: Any = None
) -> tuple[ExportedProgram, dict[str, str]]:
    """torch.export ``model`` in eval mode on ``example_args`` (the module is left as it was).

    Weights stored in torch sparse layouts (CSR, BSR, COO) are exported dense; the
    returned ``{weight name: pattern}`` keeps what their layout said. ``dynamic_shapes``
    is torch.export's argument of that name.
    """
    for i, arg in enumerate(example_args):
        if not isinstance(arg, torch.Tensor):
            raise ModelImportError(
                f"example argument {i} is a {type(arg).__name__}; sparsile compiles functions of tensors "
                "(bind other values in a wrapper module)"
            )
    _refuse_torch_quantized(model)
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
            program = torch.export.export(model, tuple(example_args), dynamic_shapes=dynamic_shapes, strict=False)
    except Exception as err:  # torch.export raises many types; all mean "cannot trace"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelImportError(f"torch.export could not trace {type(model).__name__}: {first}") from err
    finally:
        model.train(was_training)
        for owner, attr, original, _ in swapped:
            setattr(owner, attr, original)
    return program, {name: pattern for _, _, _, (name, pattern) in swapped}


#: Where torch's own quantized modules live (eager-mode static and dynamic, and fused ones).
_TORCH_QUANTIZED = ("torch.ao.nn.quantized", "torch.ao.nn.intrinsic.quantized", "torch.nn.quantized", "torch.nn.intrinsic.quantized")


def _refuse_torch_quantized(model: torch.nn.Module) -> None:
    """A clear error for torch's quantized modules, naming the first one.

    Their packed weights and quantized activations have no lowering here, and sparsile
    quantizes float weights itself (``quantize=``), keeping activations in float.
    """
    for name, module in model.named_modules():
        if type(module).__module__.startswith(_TORCH_QUANTIZED):
            where = f"layer '{name}'" if name else "the model"
            raise ModelImportError(
                f"{where} is torch's quantized {type(module).__module__}.{type(module).__name__}; sparsile does not import torch's "
                "quantized modules: compile the float model and ask for quantize='int8' or 'int4-g128' (weights only, activations stay float)"
            )


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

    Every parameter, buffer and lifted constant becomes a constant named by its
    fully qualified name in the module (``encoder.layer.0.attention.self.query.weight``),
    taken from the program's graph signature; ``intents`` maps weight names to the
    pattern the user declared for them.
    """
    imported = import_programs({ENTRY: program}, ctx, intents)
    return ImportedModel(imported.module, imported.input_names, OutputTree.from_program(program))


def import_programs(programs: dict[str, ExportedProgram], ctx: ir.Context, intents: dict[str, str] | None = None) -> ImportedModel:
    """Import several ExportedPrograms into one module, each as the public function of its name.

    The functions read the same weights under the same names (each its own constants,
    equal ones uniqued by the context), as :func:`import_program` names them.
    ``input_names`` of the result are the first program's.
    """
    graphs = {name: _frozen_program(program) for name, program in programs.items()}
    imported = import_graphs(graphs, ctx, intents or {})
    for name, program in programs.items():
        set_input_bounds(imported.module, input_bounds(program), name)
    return imported


def _frozen_program(program: ExportedProgram) -> FrozenGraph:
    """The program decomposed, with its parameters, buffers and lifted constants frozen to their tensors."""
    from torch.export.graph_signature import InputKind, OutputKind

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if not _has_sparse_inputs(program):
            # torch's decompositions do not handle sparse layouts (e.g. sum or mv of CSR/BSR).
            program = program.run_decompositions(get_decomposition_table())
    signature = program.graph_signature
    extra = [o for o in signature.output_specs if o.kind is not OutputKind.USER_OUTPUT]
    if extra:
        what = ", ".join(f"{o.kind.name.lower()} of {o.target or o.arg}" for o in extra)
        raise ModelImportError(
            f"the model updates state while it runs ({what}); sparsile compiles stateless inference: "
            "call model.eval() and do not assign buffers in forward"
        )
    frozen: dict[int, tuple[str, torch.Tensor]] = {}
    for index, spec in enumerate(signature.input_specs):
        if spec.kind is InputKind.USER_INPUT:
            continue
        if spec.kind not in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR) or spec.target is None:
            raise ModelImportError(f"input {spec.arg} of kind {spec.kind.name.lower()} cannot be imported")
        value = program.state_dict.get(spec.target)
        if value is None:
            value = program.constants.get(spec.target)
        if not isinstance(value, torch.Tensor):
            raise ModelImportError(f"the program holds no tensor for its input '{spec.target}'")
        frozen[index] = (spec.target, value)
    return FrozenGraph(program.graph_module, frozen, 0)


def input_bounds(program: ExportedProgram) -> list[list[tuple[int, int]]]:
    """``(min, max)`` of every dimension of every user input (a static one's is its size).

    A symbolic size's range comes from the program's range constraints (torch.export's
    ``Dim(min=, max=)``); one without an upper bound is an error naming the input, since
    the compiled kernels are chosen for the sizes they will see.
    """
    from torch.export.graph_signature import InputKind
    from torch.utils._sympy.value_ranges import bound_sympy

    ranges = program.range_constraints
    users = {spec.arg.name for spec in program.graph_signature.input_specs if spec.kind is InputKind.USER_INPUT}
    bounds = []
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in users:
            continue
        value = node.meta.get("val")
        dims = []
        for axis, size in enumerate(getattr(value, "shape", ())):
            if isinstance(size, int):
                dims.append((size, size))
                continue
            bound = bound_sympy(size.node.expr, ranges)
            if not (bound.upper.is_Integer and bound.lower.is_Integer):
                raise ModelImportError(
                    f"dimension {axis} of input '{node.name}' is dynamic without an upper bound; give it one "
                    "(torch.export.Dim(..., max=N)): the kernels are chosen for the sizes they will see"
                )
            dims.append((max(1, int(bound.lower)), int(bound.upper)))
        bounds.append(dims)
    return bounds


def _has_sparse_inputs(program: ExportedProgram) -> bool:
    for node in program.graph.nodes:
        value = node.meta.get("val") if node.op == "placeholder" else None
        if isinstance(value, torch.Tensor) and value.layout is not torch.strided:
            return True
    return False


class _DenseLiterals(FxImporterHooks):
    """Imports tensors that appear as literals inside a graph as DenseElementsAttr (readable as numpy)."""

    def resolve_literal(self, gni: Any, literal: Any, info: Any) -> ir.Value | None:
        if not isinstance(literal, torch.Tensor) or literal.dtype not in _NUMPY_DTYPES:
            return None  # torch-mlir's default (a dense_resource) for anything else
        attr = ir.DenseElementsAttr.get(literal.detach().cpu().contiguous().numpy())
        vtensor = gni._cc.get_vtensor_type(literal.size(), literal.dtype)
        return ir.Operation.create("torch.vtensor.literal", results=[vtensor], attributes={"value": attr}).result


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


@dataclass
class FrozenGraph:
    """An aten FX graph whose placeholders at ``frozen`` positions are frozen to named tensors."""

    graph_module: torch.fx.GraphModule
    frozen: dict[int, tuple[str, torch.Tensor]]
    output_count: int
    #: ``(min, max)`` of every dimension of every input not frozen (dynamic ones included), if any is dynamic.
    bounds: list[list[tuple[int, int]]] | None = None


def import_graph(graph: FrozenGraph, ctx: ir.Context, intents: dict[str, str] | None = None) -> ImportedModel:
    """Import an aten graph with every placeholder an argument, lower it to linalg, then freeze.

    The frozen placeholders become constants after lowering, each tagged with its
    name (``sparsile.name``), so no weight is ever identified by its value: two equal
    weights keep their own names, and torch-mlir never folds a weight into another
    constant on the way.
    """
    imported = import_graphs({ENTRY: graph}, ctx, intents)
    if graph.bounds:
        set_input_bounds(imported.module, graph.bounds)
    return imported


def import_graphs(graphs: dict[str, FrozenGraph], ctx: ir.Context, intents: dict[str, str] | None = None) -> ImportedModel:
    """:func:`import_graph` for several graphs, each the public function of its name in one module.

    ``input_names`` of the result are the first graph's.
    """
    importer = FxImporter(context=ctx, hooks=_DenseLiterals())
    names: list[list[str]] = []
    for function, graph in graphs.items():
        placeholders = [n for n in graph.graph_module.graph.nodes if n.op == "placeholder"]
        names.append([node.name for index, node in enumerate(placeholders) if index not in graph.frozen])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            try:
                importer.import_stateless_graph(graph.graph_module.graph, func_name=function)
            except Exception as err:
                raise ModelImportError(f"torch-mlir could not import the graph: {err}") from err
    module = importer.module
    _lower(module, ctx, _TORCH_BACKEND)
    _lower(module, ctx, _LINALG_BACKEND)
    for function, graph in graphs.items():
        _freeze_arguments(module, graph.frozen, intents or {}, function)
    return ImportedModel(module, names[0], OutputTree(None))


def set_input_bounds(module: ir.Module, bounds: list[list[tuple[int, int]]], function: str | None = None) -> None:
    """Record each dynamic argument's dimension bounds as its ``sparsile.bounds`` attribute
    (of ``function``, or of the module's first function)."""
    entry = _function(module, function)
    arguments = entry.regions[0].blocks[0].arguments
    if len(bounds) != len(arguments) or all(lo == hi for dims in bounds for lo, hi in dims):
        return
    with module.context:
        i64 = ir.IntegerType.get_signless(64)
        attrs = []
        for dims in bounds:
            pairs = ir.ArrayAttr.get([ir.ArrayAttr.get([ir.IntegerAttr.get(i64, lo), ir.IntegerAttr.get(i64, hi)]) for lo, hi in dims])
            attrs.append(ir.DictAttr.get({BOUNDS_ATTR: pairs}))
        entry.attributes["arg_attrs"] = ir.ArrayAttr.get(attrs)


def set_state_keys(module: ir.Module, function: str, arguments: dict[int, str], results: dict[int, str]) -> None:
    """Mark arguments and results of ``function`` as state carried between calls (``sparsile.state = "key"``).

    A result marked ``key`` is the next value of the argument marked ``key``; the hand-off
    keeps each key in a mutable global (see :mod:`sparsile.iree_backend`).
    """
    entry = _function(module, function)
    ftype = ir.FunctionType(ir.TypeAttr(entry.attributes["function_type"]).value)
    with module.context:
        for attr_name, count, keys in (("arg_attrs", len(ftype.inputs), arguments), ("res_attrs", len(ftype.results), results)):
            if not keys:
                continue
            old = list(ir.ArrayAttr(entry.attributes[attr_name])) if attr_name in entry.attributes else [ir.DictAttr.get({})] * count
            new = []
            for i, attrs in enumerate(old):
                entries = {a.name: a.attr for a in ir.DictAttr(attrs)}
                if i in keys:
                    entries[STATE_ATTR] = ir.StringAttr.get(keys[i])
                new.append(ir.DictAttr.get(entries))
            entry.attributes[attr_name] = ir.ArrayAttr.get(new)


def _function(module: ir.Module, name: str | None) -> ir.Operation:
    """The function ``name`` of ``module`` (its first function when None)."""
    return next(op for op in walk_ops(module.operation) if op.name == "func.func" and (name is None or symbol_name(op) == name))


def _freeze_arguments(module: ir.Module, frozen: dict[int, tuple[str, torch.Tensor]], intents: dict[str, str], function: str) -> None:
    """Replace the arguments of ``function`` at ``frozen`` positions by named constants holding their tensors."""
    entry = _function(module, function)
    block = entry.regions[0].blocks[0]
    with module.context, entry.location:
        for index in sorted(frozen, reverse=True):
            name, tensor = frozen[index]
            argument = block.arguments[index]
            with ir.InsertionPoint.at_block_begin(block):
                value = arith.ConstantOp(argument.type, _dense_attr(tensor, ir.RankedTensorType(argument.type)))
            value.operation.attributes[NAME_ATTR] = ir.StringAttr.get(name)
            if name in intents:
                value.operation.attributes[INTENT_ATTR] = ir.StringAttr.get(intents[name])
            argument.replace_all_uses_with(value.result)
            block.erase_argument(index)
        ftype = ir.FunctionType(ir.TypeAttr(entry.attributes["function_type"]).value)
        inputs = [a.type for a in block.arguments]
        entry.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, list(ftype.results)))


def _dense_attr(tensor: torch.Tensor, tensor_type: ir.RankedTensorType) -> ir.DenseElementsAttr:
    """The value of ``tensor`` as an attribute of ``tensor_type`` (bf16 travels as its 16-bit patterns)."""
    data = tensor.detach().cpu().contiguous()
    if data.dtype is torch.bfloat16:
        return ir.DenseElementsAttr.get(data.view(torch.int16).numpy(), type=tensor_type.element_type, shape=list(data.shape))
    if data.dtype is torch.bool:
        return ir.DenseElementsAttr.get(data.numpy(), type=tensor_type.element_type)
    array = data.numpy()
    if list(array.shape) != list(tensor_type.shape):
        raise ModelImportError(f"a weight of shape {list(array.shape)} was imported as {tensor_type}")
    return ir.DenseElementsAttr.get(array, type=tensor_type.element_type)
