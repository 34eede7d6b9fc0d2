"""``check-input``: the IR entering the sparse passes is linalg-on-tensors with one entry point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mlir import ir
from .ir_query import entry_candidates, find_entry, function_type, symbol_name, walk_ops
from .pass_base import Pass

_NOT_LOWERED_DIALECTS = ("torch", "torch_c")
_ELEMENT_TYPES = ("f16", "bf16", "f32", "f64", "i1", "i8", "i16", "i32", "i64")

#: The dialects each stage's IR may use: what the passes after it (and every target) lower.
# affine: torch-mlir computes the sizes of dynamic reshapes with affine.apply.
_LINALG = frozenset({"builtin", "func", "arith", "math", "linalg", "tensor", "scf", "cf", "complex", "sparse_tensor", "affine"})
_DIALECTS: dict[str, frozenset[str]] = {
    "linalg": _LINALG,
    "annotated": _LINALG,
    "kernels": _LINALG | {"sparsile"},
    "iree-input": _LINALG | {"vector", "memref"},
    "native-input": _LINALG | {"bufferization"},
}


@dataclass(frozen=True)
class CheckInput(Pass):
    """Verify the module is linalg-on-tensors with a tensor-typed entry function.

    Matches the whole module. Fails, naming the offending op or function, when an
    op of the torch dialect is left (an operator torch-mlir could not lower), when
    an op belongs to a dialect no target compiles from ``stage`` (``gpu.thread_id`` in
    linalg input, say), when the entry function is missing or ambiguous, or when it
    takes or returns anything but ranked tensors of a supported element type.
    Changes nothing.
    """

    name = "check-input"
    entry: str = ""
    stage: str = "linalg"

    def run(self, op: ir.Operation, pass_: Any) -> None:
        # A module with torch ops left has torch types in its signature too: report the ops only.
        ok = self._check_lowered(op) and self._check_entry(op)
        if not ok:
            pass_.signal_pass_failure()

    def _check_entry(self, module: ir.Operation) -> bool:
        entry = find_entry(module, self.entry or None)
        if entry is None:
            names = [symbol_name(f) for f in entry_candidates(module)]
            if self.entry:
                why = f"no public function @{self.entry}; public functions: {', '.join(names) or 'none'}"
            elif not names:
                why = "the module has no public function with a body to compile"
            else:
                why = f"several public functions ({', '.join(names)}); name the entry one with entry=NAME"
            module.location.emit_error(why)
            return False
        ftype = function_type(entry)
        ok = True
        for kind, types in (("argument", ftype.inputs), ("result", ftype.results)):
            for i, t in enumerate(types):
                problem = _tensor_problem(t)
                if problem:
                    entry.location.emit_error(f"{kind} {i} of @{symbol_name(entry)} {problem}")
                    ok = False
        return ok

    def _check_lowered(self, module: ir.Operation) -> bool:
        allowed = _DIALECTS.get(self.stage)
        if allowed is None:
            module.location.emit_error(f"check-input: no input check for stage '{self.stage}'; stages: {', '.join(_DIALECTS)}")
            return False
        ok = True
        for op in walk_ops(module):
            dialect = op.name.split(".", 1)[0]
            if dialect in _NOT_LOWERED_DIALECTS:
                op.location.emit_error(f"op '{op.name}' was not lowered to linalg; sparsile compiles linalg-on-tensors")
                ok = False
            elif dialect not in allowed:
                op.location.emit_error(
                    f"op '{op.name}' is from the '{dialect}' dialect, which no sparsile target compiles at stage "
                    f"'{self.stage}'; that stage's IR may use: {', '.join(sorted(allowed))}"
                )
                ok = False
        return ok


def _tensor_problem(t: ir.Type) -> str | None:
    if not isinstance(t, ir.RankedTensorType):
        return f"has type {t}; entry functions take and return ranked tensors"
    element = str(ir.RankedTensorType(t).element_type)
    if element not in _ELEMENT_TYPES:
        return f"has element type {element}; supported: {', '.join(_ELEMENT_TYPES)}"
    return None
