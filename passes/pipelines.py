"""The named pipelines: what each stage of a compile runs, as commented lists of configured passes.

Each function builds its stage's pipeline for one compile's options: the passes
with their typed options (the target, the user's sparsity overrides, the entry
function...), then the user's ``pass_options`` on top. Reading these lists is
reading the whole compilation; :mod:`sparsile.stages` puts them in order per target.
Passes are instantiated only when a pipeline is built, so importing this is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import PipelineElement, UpstreamPass, make, validate_upstream

if TYPE_CHECKING:
    from ..options import CompileOptions


def _configured(options: CompileOptions, elements: list[PipelineElement]) -> list[PipelineElement]:
    """``elements`` with the user's ``pass_options`` applied wherever each pass runs (upstream ones checked)."""
    configured = [e.with_options(options.pass_options.get(e.name, {})) for e in elements]
    for element in configured:
        if isinstance(element, UpstreamPass):
            validate_upstream(element.text)
    return configured


def annotate(o: CompileOptions) -> list[PipelineElement]:
    """linalg -> annotated: weights get the #sparse_tensor.encoding of their pattern."""
    overrides = tuple(f"{layer}@{pattern}" for layer, pattern in o.sparsity.items())
    return _configured(o, [
        make("check-input", entry=o.entry or ""),  # one tensor-typed entry point, only dialects the targets lower
        make("fold-weight-masks"),  # torch.nn.utils.prune's weight_orig * weight_mask -> one pruned weight
        make("fold-batchnorm"),  # eval-mode batch norm after a convolution -> its filter and bias (zeros stay zero)
        make("detect-sparsity", overrides=overrides),  # measure each weight, attach its #sparse_tensor.encoding
    ])


def kernels(o: CompileOptions) -> list[PipelineElement]:
    """annotated -> kernels: sparse matmuls become kernels, structure is removed physically,
    epilogues are fused, and a storage format and tiles are chosen per layer for the target."""
    return _configured(o, [
        make("form-kernels", all_weights=o.quantize is not None),  # sparse (or, to quantize, all) matmuls -> sparsile.matmul kernels
        UpstreamPass("canonicalize"),  # drop the dead transposes and converts
        make("fuse-epilogues"),  # bias, scale, activation, residual -> the kernel's epilogue
        make("rewrite-gelu-tanh"),  # unfused GELU-tanh as x * sigmoid(2u), torch-mlir's constant corrected
        make("compact-structured"),  # pruned neurons removed physically, consumers' inputs shrunk to match
        make("schedule", target=o.target.family, target_name=o.target.spec,  # per kernel: storage and tiles
             features=o.target.features, quantize=o.quantize or "",
             tune=_tunable(o), tune_flags=(*o.target.flags, *o.iree_flags) if _tunable(o) else ()),
        UpstreamPass("canonicalize"),  # drop the dense weights the chosen storage replaced
    ])


def _tunable(o: CompileOptions) -> bool:
    """Tuning times kernels here: only for the host CPU."""
    return o.tune and o.target.family == "cpu" and o.target.arch is None and o.target.chip == "host"


def iree_input(o: CompileOptions) -> list[PipelineElement]:
    """kernels -> iree-input: every kernel becomes dense-layout IR reading its storage."""
    return _configured(o, [
        make("lower-to-iree", target=o.target.family),  # each kernel through its format's lowering
        UpstreamPass("canonicalize"),  # fold the layout transposes between consecutive kernels
        make("share-tied-weights", target=o.target.family),  # a weight a matmul shares (tied embedding) stored once
        make("check-iree-input"),  # no sparse encoding or sparsile op may reach IREE
    ])


def native_input(o: CompileOptions) -> list[PipelineElement]:
    """kernels -> native-input (target native-cpu): kernels become sparse linalg for the sparsifier."""
    return _configured(o, [
        make("lower-to-native"),  # each kernel through its format's native lowering; C interface on entries
        make("select-to-maximum"),  # compare-and-select ReLU -> maximumf (the sparsifier fails on the former)
        UpstreamPass("canonicalize"),
    ])


def llvm(o: CompileOptions) -> list[PipelineElement]:
    """native-input -> llvm: MLIR's own sparse compiler down to the LLVM dialect."""
    sparsifier: dict[str, Any] = {"enable-runtime-library": False, **o.native_options}
    return _configured(o, [
        UpstreamPass("sparse-assembler{direct-out=true}"),  # sparse arguments/results as (positions, coordinates, values)
        UpstreamPass("sparsifier").with_options(sparsifier),  # options from CompileOptions.native_options
    ])
