"""The named pipelines: what each stage of a compile runs, as commented lists.

Each list produces its stage's IR from the previous stage's IR; the driver runs
them in the order of :data:`sparsile.stages.STAGES`. Reading these lists is
reading the whole compilation.
"""

from __future__ import annotations

# linalg -> annotated: weights get the #sparse_tensor.encoding of their pattern.
ANNOTATE: list[str] = [
    "check-input",  # one tensor-typed entry point, fully lowered to linalg
    "fold-weight-masks",  # torch.nn.utils.prune's weight_orig * weight_mask -> one pruned weight
    "detect-sparsity",  # measure each weight, attach its #sparse_tensor.encoding
]

# annotated -> kernels: sparse ops become sparsile.* kernels, structure is removed
# physically, epilogues are fused and a format is scheduled per layer.
KERNELS: list[str] = [
    "form-kernels",  # sparse matmuls -> sparsile.*_matmul with packed weights (or dense fallback)
    "canonicalize",  # drop the dead dense weights, transposes and converts
    "fuse-epilogues",  # bias, scale, activation, residual -> the kernel's epilogue
    "compact-structured",  # pruned neurons removed physically, consumers' inputs shrunk to match
    "schedule",  # per kernel: sparse format or dense, by the cost model
    "canonicalize",
]

# kernels -> iree-input: every sparse kernel becomes dense-layout IR for IREE.
IREE_INPUT: list[str] = [
    "lower-to-iree",  # each sparsile kernel -> dense-layout linalg
    "canonicalize",  # drop the packed constants the lowering no longer reads
    "check-iree-input",  # no sparse encoding or sparsile op may reach IREE
]

# kernels -> native-input (target native-cpu): kernels become sparse linalg for the sparsifier.
NATIVE_INPUT: list[str] = [
    "lower-to-native",  # each sparsile kernel -> sparse weight + linalg.generic; C interface on entries
    "select-to-maximum",  # compare-and-select ReLU -> maximumf (the sparsifier fails on the former)
    "canonicalize",
]

# native-input -> llvm: MLIR's own sparse compiler down to the LLVM dialect.
LLVM: list[str] = [
    "sparse-assembler{direct-out=true}",  # sparse arguments/results as (positions, coordinates, values)
    "sparsifier{enable-runtime-library=false}",  # options from CompileOptions.native_options
]

PIPELINES: dict[str, list[str]] = {
    "annotated": ANNOTATE,
    "kernels": KERNELS,
    "iree-input": IREE_INPUT,
    "native-input": NATIVE_INPUT,
    "llvm": LLVM,
}

