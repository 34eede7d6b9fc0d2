"""The entry function's inputs and outputs, for the manifest.

For IREE targets they are read off the compiled ``.vmfb`` itself (the
``iree.abi.declaration`` iree-compile writes, the same declaration the loader
checks manifests against); for ``native-cpu`` off the module before it is lowered
to LLVM, where sparse arguments still carry their encodings.
"""

from __future__ import annotations

import dataclasses

from .constants import BOUNDS_ATTR
from .dialects.encodings import torch_layout
from .dtypes import numpy_dtype_name
from .errors import ModelSpecError
from .manifest import TensorSpec
from .mlir import ir
from .passes.ir_query import find_entry, function_type, symbol_name

Signature = tuple[str, list[TensorSpec], list[TensorSpec]]


def _names(count: int, given: list[str] | None, prefix: str) -> list[str]:
    return list(given) if given and len(given) == count else [f"{prefix}{i}" for i in range(count)]


def vmfb_signature(vmfb: bytes, entry: str | None, input_names: list[str] | None) -> Signature:
    """(entry name, inputs, outputs) of the compiled module's entry (its only export when ``entry`` is None)."""
    import iree.runtime as iree_rt

    from .runtime.devices import vm_instance
    from .runtime.signature import parse_declaration

    module = iree_rt.VmModule.copy_buffer(vm_instance(), vmfb)
    names = [n for n in module.function_names if not n.startswith("__")]
    name = entry or (names[0] if len(names) == 1 else None)
    function = module.lookup_function(name) if name else None
    if name is None or function is None:
        raise ModelSpecError(f"the compiled module exports {', '.join(names) or 'nothing'}; name the entry with entry=NAME")
    declared = parse_declaration(function.reflection.get("iree.abi.declaration", ""))
    del function, module
    if declared is None:
        raise ModelSpecError(f"@{name} takes or returns values other than tensors; sparsile artifacts exchange tensors")
    inputs = [TensorSpec(n, shape, dtype) for n, (shape, dtype) in zip(_names(len(declared.inputs), input_names, "input"), declared.inputs)]
    outputs = [TensorSpec(f"output{i}", shape, dtype) for i, (shape, dtype) in enumerate(declared.outputs)]
    return name, inputs, outputs


def module_signature(module: ir.Module, entry: str | None, input_names: list[str] | None) -> Signature:
    """(entry name, inputs, outputs) of a module's entry function, sparse layouts included."""
    func = find_entry(module.operation, entry)
    if func is None:  # check-input ran on every path here; this is a sparsile bug
        raise ModelSpecError("internal error: the entry function disappeared during compilation")
    ftype = function_type(func)
    names = _names(len(ftype.inputs), input_names, "input")
    inputs = [_tensor_spec(name, t) for name, t in zip(names, ftype.inputs)]
    outputs = [_tensor_spec(f"output{i}", t) for i, t in enumerate(ftype.results)]
    return symbol_name(func), inputs, outputs


def _tensor_spec(name: str, t: ir.Type) -> TensorSpec:
    tensor = ir.RankedTensorType(t)
    shape = tuple(-1 if ir.ShapedType.is_dynamic_size(d) else d for d in tensor.shape)
    dtype = numpy_dtype_name(str(tensor.element_type))
    if tensor.encoding is None:
        return TensorSpec(name, shape, dtype)
    layout, block, bits = torch_layout(tensor.encoding)
    return TensorSpec(name, shape, dtype, layout, block, "int32" if bits == 32 else "int64")


def entry_bounds(module: ir.Module, entry: str | None) -> list[tuple[tuple[int, int], ...]]:
    """The ``sparsile.bounds`` of each argument of the entry function (empty tuples where none is recorded)."""
    func = find_entry(module.operation, entry)
    if func is None:
        return []
    count = len(function_type(func).inputs)
    if "arg_attrs" not in func.attributes:
        return [()] * count
    bounds: list[tuple[tuple[int, int], ...]] = []
    for attrs in ir.ArrayAttr(func.attributes["arg_attrs"]):
        d = ir.DictAttr(attrs)
        if BOUNDS_ATTR not in d:
            bounds.append(())
            continue
        pairs = ir.ArrayAttr(d[BOUNDS_ATTR])
        bounds.append(tuple((ir.IntegerAttr(ir.ArrayAttr(p)[0]).value, ir.IntegerAttr(ir.ArrayAttr(p)[1]).value) for p in pairs))
    return bounds


def with_bounds(specs: list[TensorSpec], bounds: list[tuple[tuple[int, int], ...]]) -> list[TensorSpec]:
    """``specs`` with the bounds of their dynamic dimensions (a spec without any is returned as it is)."""
    if len(bounds) != len(specs):
        return specs
    return [dataclasses.replace(spec, bounds=b) if b and len(b) == len(spec.shape) else spec for spec, b in zip(specs, bounds)]
