"""IR built through the bindings carries every property, so the bytecode hand-off is faithful."""

from __future__ import annotations

import numpy as np

from sparsile.mlir import func, ir, new_context, to_bytecode
from sparsile.passes.ir_build import constant, matmul, transpose


def test_built_ops_equal_their_parsed_form():
    ctx = new_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        f32 = ir.F32Type.get()
        with ir.InsertionPoint(module.body):

            @func.FuncOp.from_py_func(ir.RankedTensorType.get([2, 3], f32))
            def main(x):
                w = constant(np.arange(12, dtype=np.float32).reshape(4, 3))
                return matmul(x, transpose(w, [1, 0]))

    built = module.operation.get_asm(print_generic_op_form=True)
    reparsed = ir.Module.parse(module.operation.get_asm(), ctx).operation.get_asm(print_generic_op_form=True)
    from_bytecode = ir.Module.parse(to_bytecode(module), ctx).operation.get_asm(print_generic_op_form=True)
    assert "indexing_maps" in built, "linalg.matmul must carry its indexing_maps property"
    assert built == reparsed == from_bytecode
