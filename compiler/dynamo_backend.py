"""``torch.compile(model, backend="sparsile")``: the TorchDynamo backend.

Dynamo hands over a torch-level FX graph whose parameters and buffers are
graph inputs. The backend lowers it with ``aot_autograd`` to an inference aten
graph, freezes the parameters and buffers into named constants (so sparsity
detection sees the weights), and compiles it with the same pipeline and
artifact cache as :func:`sparsile.compile`; calls then run through the IREE
runtime with torch tensors in and out.

Policies:

- Gradients: a graph traced with grad mode on and an input that requires grad
  (training, or inference outside ``torch.no_grad()``) runs eagerly, with one
  warning. sparsile never returns outputs whose gradients would be wrong.
- Unsupported operators: the graph runs eagerly, with one warning naming the op.
- Shapes: a graph with symbolic sizes whose ranges all have a maximum
  (``torch._dynamo.mark_dynamic(x, 0, min=1, max=64)``) is compiled once, into one
  dynamic artifact serving every size in range. Otherwise (and for sizes outside the
  range) every distinct input shape gets its own static artifact, compiled at its
  first call.
- Weights are frozen at compile time; changing them in place afterwards is
  detected (tensor version counters) and triggers a recompile.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import sympy
import torch

from .errors import SparsileError

_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], options: dict[str, Any] | None = None) -> Callable:
    """The dynamo backend entry point (registered as ``sparsile`` via the ``torch_dynamo_backends`` entry point)."""
    options = dict(options or {})
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    static = [i for i, n in enumerate(placeholders) if _is_parameter_or_buffer(n)]
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in example_inputs):
        _warn_once(
            "grad",
            "sparsile compiles inference graphs; this graph needs autograd (grad mode is on and an input or "
            "parameter requires grad), so it runs eagerly. Call the model under torch.no_grad() or "
            "torch.inference_mode() to run it through sparsile.",
        )
        return gm.forward
    names = {i: _state_name(placeholders[i]) for i in static}
    # Detached here: the forward compiler below runs under AOT's fake-tensor mode.
    frozen = {i: example_inputs[i].detach() for i in static}

    from torch._dynamo.backends.common import aot_autograd

    def fw_compiler(fx_graph: torch.fx.GraphModule, fake_inputs: Sequence[Any]) -> Callable:
        return _Compiled(fx_graph, names, frozen, len(example_inputs), options)

    with torch.no_grad():
        return aot_autograd(fw_compiler=fw_compiler)(gm, example_inputs)


def _is_parameter_or_buffer(node: torch.fx.Node) -> bool:
    info = node.meta.get("tensor_dict", {})
    return info.get("_dynamo_static_input_type") is not None


_PATH_PART = re.compile(r"\.?_(?:modules|parameters|buffers)\['([^']+)'\]|\.([A-Za-z_]\w*)|\[(\d+)\]")


def _state_name(node: torch.fx.Node) -> str:
    """``layers.0.weight`` from dynamo's source ``L['self']._modules['layers']._modules['0']._parameters['weight']``."""
    grapharg = node.meta.get("grapharg")
    source = grapharg.source.name if grapharg is not None else node.name
    source = source() if callable(source) else source
    body = source.split("]", 1)[1] if source.startswith("L[") else source
    parts = [a or b or c for a, b, c in _PATH_PART.findall(body)]
    return ".".join(parts) or node.name


class _Compiled:
    """The callable handed back to AOT: one static sparsile artifact per input shape."""

    def __init__(self, fx_graph: torch.fx.GraphModule, names: dict[int, str], frozen: dict[int, torch.Tensor], n_inputs: int, options: dict[str, Any]):
        self._graph = fx_graph
        self._names = names
        self._frozen = frozen
        self._versions = {i: t._version for i, t in frozen.items()}
        self._options = options
        self._artifacts: dict[tuple, Any] = {}
        self._eager: Callable | None = None
        placeholders = [n for n in fx_graph.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != n_inputs:
            self._eager = fx_graph
            _warn_once("inputs", "sparsile: the AOT graph's inputs do not match dynamo's; running eagerly")
        self._user = [i for i in range(len(placeholders)) if i not in self._frozen]
        self._dynamic = _DynamicSizes.of(placeholders, self._user) if self._eager is None else None

    def __call__(self, *args: Any) -> Any:
        if self._eager is not None:
            return self._eager(*args)
        user_args = [args[i] for i in self._user]
        if any(self._frozen[i]._version != self._versions[i] for i in self._frozen):
            self._artifacts.clear()  # weights changed in place: the constants are stale
            self._versions = {i: t._version for i, t in self._frozen.items()}
        tensors = [a for a in user_args if isinstance(a, torch.Tensor)]
        dynamic = self._dynamic is not None and self._dynamic.holds(tensors)
        key: tuple = ("dynamic",) if dynamic else tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else a for a in user_args)
        compiled = self._artifacts.get(key)
        if compiled is None:
            compiled = self._compile_dynamic(args) if dynamic else self._compile(args)
            if compiled is None:
                return self._eager(*args)  # type: ignore[misc]
            self._artifacts[key] = compiled
        return tuple(compiled.call_flat(*tensors))

    @torch._dynamo.disable
    def _compile_dynamic(self, args: Sequence[Any]) -> Any:
        """One artifact for every size the graph's symbolic ranges allow: the graph traced on fake
        inputs whose symbolic dimensions (and only those) are dynamic, imported with their bounds."""
        from .importer import FrozenGraph

        assert self._dynamic is not None
        graph, tensor_positions = self._dynamic.trace(self._graph, args, set(self._frozen))
        frozen = {tensor_positions.index(i): (self._names[i], self._frozen[i]) for i in self._frozen}
        return self._compile_graph(FrozenGraph(graph, frozen, 0, self._dynamic.bounds(args, self._user)))

    @torch._dynamo.disable
    def _compile(self, args: Sequence[Any]) -> Any:
        from .importer import FrozenGraph

        graph = _specialise(self._graph, args)
        tensor_positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        frozen = {tensor_positions.index(i): (self._names[i], self._frozen[i]) for i in self._frozen}
        return self._compile_graph(FrozenGraph(graph, frozen, 0))

    def _compile_graph(self, graph: Any) -> Any:
        """Compile a frozen graph; an unsupported operator or a compile error runs the graph eagerly from now on."""
        from .api import compile as sparsile_compile

        try:
            return sparsile_compile(graph, **self._options)
        except SparsileError as err:
            op = getattr(err, "op", None)
            what = f"operator '{op}' is not supported" if op else " ".join(str(err).splitlines()[:2])
            _warn_once(f"fallback:{op or what}", f"sparsile: {what}; this graph runs eagerly")
            self._eager = self._graph
            return None


def _specialise(fx_graph: torch.fx.GraphModule, args: Sequence[Any]) -> torch.fx.GraphModule:
    """A copy of the aten graph traced for these concrete inputs: static shapes, and the
    non-tensor inputs (symbolic sizes) baked in, so its placeholders are the tensor inputs.
    torch-mlir's decompositions are applied on the way, as the export path does."""
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch_mlir.extras.fx_decomp_util import get_decomposition_table

    tensors = [a.detach() for a in args if isinstance(a, torch.Tensor)]

    def specialised(*tensor_args: torch.Tensor) -> Any:
        it = iter(tensor_args)
        return fx_graph(*[next(it) if isinstance(a, torch.Tensor) else a for a in args])

    with torch.no_grad():
        return make_fx(specialised, decomposition_table=get_decomposition_table(), tracing_mode="real")(*tensors)


class _DynamicSizes:
    """Where an AOT graph's symbolic sizes are: each placeholder is a frozen weight, a user
    tensor, or a size read off a user tensor's dimension; each symbol has a bounded range."""

    def __init__(self, layout: list[tuple[str, Any]], dims: list[dict[int, Any]], ranges: dict[Any, tuple[int, int]]):
        #: Per placeholder: ("frozen", index), ("tensor", j) or ("size", (j, dim)).
        self.layout = layout
        #: Per user tensor: its symbolic dimensions and their symbols.
        self.dims = dims
        self.ranges = ranges

    @classmethod
    def of(cls, placeholders: list[torch.fx.Node], user: list[int]) -> _DynamicSizes | None:
        """The graph's symbolic sizes, or None when it has none or one without a maximum."""
        tensors = [i for i in user if isinstance(placeholders[i].meta.get("val"), torch.Tensor)]
        dims: list[dict[int, Any]] = []
        ranges: dict[Any, tuple[int, int]] = {}
        for i in tensors:
            value = placeholders[i].meta["val"]
            own = {}
            for d, size in enumerate(value.shape):
                if isinstance(size, torch.SymInt):
                    expr = size.node.expr
                    bound = size.node.shape_env.var_to_range.get(expr)
                    # torch's int_oo claims is_finite; only a sympy Integer is a real maximum.
                    if bound is None or not isinstance(bound.upper, sympy.Integer):
                        return None
                    ranges[expr] = (int(bound.lower), int(bound.upper))
                    own[d] = expr
            dims.append(own)
        if not ranges:
            return None
        where = {expr: (j, d) for j, own in enumerate(dims) for d, expr in own.items()}
        layout: list[tuple[str, Any]] = []
        for i, node in enumerate(placeholders):
            value = node.meta.get("val")
            if i not in user:
                layout.append(("frozen", i))
            elif isinstance(value, torch.SymInt):
                if value.node.expr not in where:
                    return None  # a size no input dimension carries
                layout.append(("size", where[value.node.expr]))
            else:
                layout.append(("tensor", tensors.index(i)))
        return cls(layout, dims, ranges)

    def holds(self, tensors: Sequence[torch.Tensor]) -> bool:
        """Whether these inputs' sizes are within the ranges."""
        return len(tensors) == len(self.dims) and all(
            self.ranges[expr][0] <= t.shape[d] <= self.ranges[expr][1] for t, own in zip(tensors, self.dims) for d, expr in own.items()
        )

    def bounds(self, args: Sequence[Any], user: list[int]) -> list[list[tuple[int, int]]]:
        """``(min, max)`` of every dimension of every user tensor (a static one's is its size)."""
        tensors = [args[i] for i in user if isinstance(args[i], torch.Tensor)]
        return [[self.ranges[own[d]] if d in own else (size, size) for d, size in enumerate(t.shape)] for t, own in zip(tensors, self.dims)]

    def trace(self, graph: torch.fx.GraphModule, args: Sequence[Any], frozen: set[int]) -> tuple[torch.fx.GraphModule, list[int]]:
        """The aten graph traced (with torch-mlir's decompositions) on fake tensors whose symbolic
        dimensions are dynamic and all others static; its placeholders are the tensor inputs, the
        sizes read off them. Also returns the positions of the tensor inputs among ``args``."""
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.fx.experimental.proxy_tensor import make_fx
        from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext
        from torch_mlir.extras.fx_decomp_util import get_decomposition_table

        mode = FakeTensorMode(shape_env=ShapeEnv())
        positions = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        fakes = []
        for i in positions:
            kind, ref = self.layout[i]
            dynamic = self.dims[ref] if kind == "tensor" else {}
            sizes = [DimDynamic.DYNAMIC if d in dynamic else DimDynamic.STATIC for d in range(args[i].dim())]
            fakes.append(mode.from_tensor(args[i].detach(), symbolic_context=StatelessSymbolicContext(dynamic_sizes=sizes)))
        user_positions = [positions.index(i) for i, (kind, _) in enumerate(self.layout) if kind == "tensor"]

        def replay(*tensors: torch.Tensor) -> Any:
            full: list[Any] = []
            for i, (kind, ref) in enumerate(self.layout):
                if kind == "size":
                    j, d = ref
                    full.append(tensors[user_positions[j]].shape[d])
                else:
                    full.append(tensors[positions.index(i)])
            return graph(*full)

        with torch.no_grad():
            return make_fx(replay, decomposition_table=get_decomposition_table(), tracing_mode="real")(*fakes), positions
