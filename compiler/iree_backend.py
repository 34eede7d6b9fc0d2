"""The hand-off to IREE: the only module that imports ``iree.compiler``.

IR arrives here as MLIR bytecode written by torch-mlir's bindings (the two MLIR
copies never share objects) and leaves as a ``.vmfb`` flatbuffer. On the way,
sparsile's hand-written kernels are materialised in IREE's own bindings: the
``iree-input`` stage expresses each one in upstream MLIR (see
:mod:`sparsile.passes.dispatch_markers`); here the kernel ``func.func`` becomes a
``stream.executable`` (an export whose workgroup count is the kernel's
``sparsile.workgroups``, and an inner module whose function takes
``!stream.binding``s: ``stream.binding.subspan`` replaces each memref argument,
``hal.interface.workgroup.id`` each index argument) and each marked call becomes
``flow.dispatch``. Ops are moved, not cloned. Weights moved into a parameter archive
(:mod:`sparsile.parameters`) become ``util.global``s initialised from it, and the
arguments and results a function marks as state (``sparsile.state``, the KV cache of
a causal LM) become mutable globals it loads and stores. The result is the
``iree-handoff`` stage: exactly what iree-compile receives, dumped like every other stage.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass

from iree.compiler import ir as iree_ir
from iree.compiler import tools as iree_tools
from iree.compiler.dialects import arith, builtin, flow, func, hal, stream, util

from .constants import STATE_ATTR
from .parameters import PARAMETER_ATTR, SCOPE
from .passes.dispatch_markers import KERNEL_ATTR, WORKGROUPS_ATTR


class IreeCompileError(Exception):
    """iree-compile rejected the input; ``diagnostics`` holds its error lines."""

    def __init__(self, diagnostics: str):
        self.diagnostics = diagnostics
        super().__init__(diagnostics)


@dataclass(frozen=True)
class Handoff:
    """What iree-compile receives: the module as bytecode, and as text for the ``iree-handoff`` dump."""

    bytecode: bytes
    text: str
    kernels: int


def handoff(ir_source: bytes | str, elide_limit: int | None) -> Handoff:
    """Read ``ir_source`` into IREE's bindings, materialise its hand-written dispatches, and
    return it as bytecode for iree-compile plus its text (constants above ``elide_limit``
    elements elided; None keeps all)."""
    with iree_ir.Context() as ctx, iree_ir.Location.unknown():
        try:
            module = iree_ir.Module.parse(ir_source)
        except iree_ir.MLIRError as err:
            raise IreeCompileError(f"IREE could not read the module: {_first_lines(str(err))}") from None
        kernels = materialize(module)
        materialize_parameters(module)
        materialize_state(module)
        buffer = io.BytesIO()
        module.operation.write_bytecode(buffer)
        if elide_limit is None:
            text = module.operation.get_asm()
        else:
            text = module.operation.get_asm(large_elements_limit=elide_limit, large_resource_limit=4 * elide_limit)
        del module, ctx
    return Handoff(buffer.getvalue(), text, kernels)


def compile_vmfb(ir_source: bytes | str, flags: Sequence[str]) -> bytes:
    """Compile hand-off IR (bytecode or text) with iree-compile and the given flags."""
    try:
        return iree_tools.compile_str(ir_source, extra_args=list(flags))
    except iree_tools.CompilerToolError as err:
        raise IreeCompileError(_diagnostics(str(err))) from None


_PROBE = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %x, %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}"""


@functools.cache
def chip_problem(flags: tuple[str, ...]) -> str | None:
    """Why iree-compile cannot generate code with ``flags`` (a target's device and chip flags), or None.

    A four-element addition is compiled once per set of flags and process: IREE's own
    tables decide which chips exist, and a misspelt chip fails here, before a model's compile.
    """
    try:
        iree_tools.compile_str(_PROBE, extra_args=list(flags))
    except iree_tools.CompilerToolError as err:
        text = str(err)
        listing = re.search(r"List of accepted CPUs: ([^\n]*)", text)
        if listing:
            return f"LLVM does not know it; accepted CPUs: {listing.group(1).strip()}"
        if "missing GPU target" in text:
            return "this IREE has no code generation target for it"
        unknown = re.search(r"error: (Unknown [^\n]*)", text)
        return unknown.group(1) if unknown else _first_lines(_diagnostics(text))
    return None


def _first_lines(text: str, count: int = 3) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[:count])


def _diagnostics(text: str) -> str:
    m = re.search(r"Diagnostics:\n(.*?)\n\nInvoked with:", text, re.S)
    body = m.group(1) if m else text
    lines = [line for line in body.splitlines() if line.strip()]
    return "\n".join(lines[:40])


def materialize(module: iree_ir.Module) -> int:
    """Rewrite the dispatch markers of ``module`` in place; returns how many kernels it had."""
    top = module.body
    kernels, declarations = {}, {}
    for op in list(top.operations):
        op = op.operation
        if op.name != "func.func":
            continue
        name = iree_ir.StringAttr(op.attributes["sym_name"]).value
        if WORKGROUPS_ATTR in op.attributes:
            kernels[name] = op
        elif KERNEL_ATTR in op.attributes:
            declarations[name] = (op, iree_ir.FlatSymbolRefAttr(op.attributes[KERNEL_ATTR]).value)
    entries = {name: _executable(kernel) for name, kernel in kernels.items()}
    for call, callee in _calls_to(module.operation, declarations):
        executable, entry = entries[declarations[callee][1]]
        with iree_ir.InsertionPoint(call), call.location:
            points = iree_ir.ArrayAttr.get([iree_ir.SymbolRefAttr.get([executable, entry])])
            new = flow.DispatchOp([r.type for r in call.results], [], points, list(call.operands), [], [])
        for old, replacement in zip(call.results, new.results):
            old.replace_all_uses_with(replacement)
        call.erase()
    for declaration, _ in declarations.values():
        declaration.erase()
    return len(kernels)


def _calls_to(op: iree_ir.Operation, callees: Container[str]) -> list[tuple[iree_ir.Operation, str]]:
    """The ``func.call``s nested in ``op`` whose callee is one of ``callees``, with that callee."""
    calls: list[iree_ir.Operation] = []
    _collect_calls(op, calls)
    named = [(call, iree_ir.FlatSymbolRefAttr(call.attributes["callee"]).value) for call in calls]
    return [(call, callee) for call, callee in named if callee in callees]


def _collect_calls(op: iree_ir.Operation, into: list[iree_ir.Operation]) -> None:
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                child = child.operation
                if child.name == "func.call":
                    into.append(child)
                _collect_calls(child, into)


def _index(value: int) -> iree_ir.Value:
    index = iree_ir.IndexType.get()
    return arith.ConstantOp(index, iree_ir.IntegerAttr.get(index, value)).result


def _executable(kernel: iree_ir.Operation) -> tuple[str, str]:
    """Replace a marked kernel function by a stream.executable; returns (executable, entry) names."""
    name = iree_ir.StringAttr(kernel.attributes["sym_name"]).value
    workgroups = ([int(v) for v in iree_ir.DenseI64ArrayAttr(kernel.attributes[WORKGROUPS_ATTR])] + [1, 1, 1])[:3]
    signature = iree_ir.FunctionType(iree_ir.TypeAttr(kernel.attributes["function_type"]).value)
    ids = [t for t in signature.inputs if isinstance(t, iree_ir.IndexType)]
    buffers = list(signature.inputs)[len(ids) :]
    with iree_ir.InsertionPoint(kernel), kernel.location:
        executable = stream.ExecutableOp(f"{name}_exe", sym_visibility="private")
        with iree_ir.InsertionPoint(executable.regions[0].blocks.append()):
            export = stream.ExecutableExportOp(name, iree_ir.FlatSymbolRefAttr.get(name), sym_visibility="public")
            with iree_ir.InsertionPoint(export.regions[0].blocks.append()):
                stream.ReturnOp([_index(v) for v in workgroups])
            inner = builtin.ModuleOp()
            stream.ExecutableEndOp()
        with iree_ir.InsertionPoint(inner.body):
            binding = iree_ir.Type.parse("!stream.binding")
            function = func.FuncOp(name, iree_ir.FunctionType.get([binding] * len(buffers), []))
        entry = function.add_entry_block()
        with iree_ir.InsertionPoint(entry):
            zero = _index(0)
            views = [stream.BindingSubspanOp(t, b, zero, []).result for t, b in zip(buffers, entry.arguments)]
            index = iree_ir.IndexType.get()
            group_ids = [hal.InterfaceWorkgroupIDOp(iree_ir.IntegerAttr.get(index, d), results=[index]).result for d in range(len(ids))]
    body = kernel.regions[0].blocks[0]
    for old, new in zip(list(body.arguments), group_ids + views):
        old.replace_all_uses_with(new)
    for op in list(body.operations):
        entry.append(op)
    kernel.erase()
    return f"{name}_exe", name


def materialize_parameters(module: iree_ir.Module) -> int:
    """Turn parameter markers into ``util.global``s read from the archive's scope; returns how many."""
    top = module.body
    markers: dict[str, tuple[iree_ir.Operation, iree_ir.Type]] = {}
    for op in list(top.operations):
        op = op.operation
        if op.name == "func.func" and PARAMETER_ATTR in op.attributes:
            signature = iree_ir.FunctionType(iree_ir.TypeAttr(op.attributes["function_type"]).value)
            markers[iree_ir.StringAttr(op.attributes["sym_name"]).value] = (op, signature.results[0])
    for symbol, (decl, value_type) in markers.items():
        key = iree_ir.StringAttr(decl.attributes[PARAMETER_ATTR]).value
        with iree_ir.InsertionPoint(decl), decl.location:
            initial = iree_ir.Attribute.parse(f"#stream.parameter.named<{_quoted(SCOPE)}::{_quoted(key)}> : {value_type}")
            util.GlobalOp(symbol, value_type, sym_visibility="private", initial_value=initial)
    for call, symbol in _calls_to(module.operation, markers):
        with iree_ir.InsertionPoint(call), call.location:
            load = util.GlobalLoadOp(markers[symbol][1], symbol, is_immutable=True)
        call.results[0].replace_all_uses_with(load.result)
        call.erase()
    for decl, _ in markers.values():
        decl.erase()
    return len(markers)


def materialize_state(module: iree_ir.Module) -> int:
    """Make the arguments and results marked ``sparsile.state`` mutable globals; returns how many globals.

    An argument marked ``"key"`` becomes a load of the global ``key`` (zero at first)
    and a result marked ``"key"`` a store into it before the function returns, so
    the state stays in device memory between calls instead of crossing the ABI.
    """
    top = module.body
    created: dict[str, str] = {}
    first = next(iter(top.operations), None)
    for op in list(top.operations):
        op = op.operation
        if op.name != "func.func" or not op.regions[0].blocks:
            continue
        arg_keys = _state_keys(op, "arg_attrs")
        res_keys = _state_keys(op, "res_attrs")
        if not any(arg_keys) and not any(res_keys):
            continue
        signature = iree_ir.FunctionType(iree_ir.TypeAttr(op.attributes["function_type"]).value)
        for key, value_type in [*zip(arg_keys, signature.inputs), *zip(res_keys, signature.results)]:
            if key and key not in created:
                created[key] = f"sparsile_state_{len(created)}"
                with iree_ir.InsertionPoint(first) if first is not None else iree_ir.InsertionPoint(top), op.location:
                    util.GlobalOp(created[key], value_type, sym_visibility="private", is_mutable=True,
                                  initial_value=_zeros(value_type))
        entry = op.regions[0].blocks[0]
        with iree_ir.InsertionPoint.at_block_begin(entry), op.location:
            for index in range(len(arg_keys) - 1, -1, -1):
                key = arg_keys[index]
                if key:
                    value = util.GlobalLoadOp(signature.inputs[index], created[key]).result
                    entry.arguments[index].replace_all_uses_with(value)
        for index in range(len(arg_keys) - 1, -1, -1):
            if arg_keys[index]:
                entry.erase_argument(index)
        for block in op.regions[0].blocks:
            terminator = block.operations[len(block.operations) - 1]
            if terminator.operation.name != "func.return":
                continue
            operands = list(terminator.operands)
            with iree_ir.InsertionPoint(terminator), terminator.location:
                for key, value in zip(res_keys, operands):
                    if key:
                        util.GlobalStoreOp(value, created[key])
                func.ReturnOp([v for key, v in zip(res_keys, operands) if not key])
            terminator.operation.erase()
        inputs = [t for key, t in zip(arg_keys, signature.inputs) if not key]
        results = [t for key, t in zip(res_keys, signature.results) if not key]
        op.attributes["function_type"] = iree_ir.TypeAttr.get(iree_ir.FunctionType.get(inputs, results))
        for name, keys in (("arg_attrs", arg_keys), ("res_attrs", res_keys)):
            if name in op.attributes:
                kept = [a for key, a in zip(keys, iree_ir.ArrayAttr(op.attributes[name])) if not key]
                op.attributes[name] = iree_ir.ArrayAttr.get(kept)
    return len(created)


def _state_keys(op: iree_ir.Operation, name: str) -> list[str]:
    """The ``sparsile.state`` key of each argument (or result), "" where there is none."""
    if name not in op.attributes:
        signature = iree_ir.FunctionType(iree_ir.TypeAttr(op.attributes["function_type"]).value)
        return [""] * len(signature.inputs if name == "arg_attrs" else signature.results)
    keys = []
    for attrs in iree_ir.ArrayAttr(op.attributes[name]):
        d = iree_ir.DictAttr(attrs)
        keys.append(iree_ir.StringAttr(d[STATE_ATTR]).value if STATE_ATTR in d else "")
    return keys


def _zeros(value_type: iree_ir.Type) -> iree_ir.Attribute:
    tensor_type = iree_ir.RankedTensorType(value_type)
    element = tensor_type.element_type
    zero = iree_ir.IntegerAttr.get(element, 0) if isinstance(element, iree_ir.IntegerType) else iree_ir.FloatAttr.get(element, 0.0)
    return iree_ir.DenseElementsAttr.get_splat(tensor_type, zero)


def _quoted(text: str) -> str:
    """``text`` as an MLIR string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
