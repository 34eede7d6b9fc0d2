"""``#sparse_tensor.encoding`` attributes for sparsile's patterns, both ways, through ``EncodingAttr``.

A weight is described in its own layout; ``reduction_dim`` says which of its two
dimensions is summed over (1 for a torch ``[out, in]`` weight that the importer
transposes, 0 for a ``[in, out]`` matmul operand), so N:M groups and CSR rows
follow the reduction dimension. Conv filters ``[F, C, KH, KW]`` reduce over the
last three dimensions. Encodings are built from level types and affine maps and
read back from the same fields, never from their printed text.
"""

from __future__ import annotations

from ..mlir import ir, sparse_tensor
from .patterns import CHANNELS, CSR, Pattern, PatternKind

_Level = tuple[ir.AffineExpr, int]


def _level(fmt: sparse_tensor.LevelFormat, n: int = 0, m: int = 0, properties: tuple = ()) -> int:
    return sparse_tensor.EncodingAttr.build_level_type(fmt, list(properties), n, m)


def _encoding(rank: int, levels: list[_Level], pos_width: int = 0, crd_width: int = 0) -> sparse_tensor.EncodingAttr:
    dim_to_lvl = ir.AffineMap.get(rank, 0, [expr for expr, _ in levels])
    return sparse_tensor.EncodingAttr.get([kind for _, kind in levels], dim_to_lvl, None, pos_width, crd_width)


def encoding(
    pattern: Pattern, rank: int = 2, reduction_dim: int = 1, input_channels: bool = False, index_width: int = 0
) -> sparse_tensor.EncodingAttr:
    """The encoding of ``pattern`` for a weight of ``rank`` (2: a matrix, 4: a conv filter).

    ``input_channels`` says a ``channels`` weight lost input columns rather than output
    rows; ``index_width`` sets the position and coordinate bit width (0: index).
    """
    dense, compressed = _level(sparse_tensor.LevelFormat.dense), _level(sparse_tensor.LevelFormat.compressed)
    dims = [ir.AffineExpr.get_dim(i) for i in range(rank)]
    if rank == 4:
        if pattern.kind is PatternKind.CHANNELS:
            return _encoding(4, [(dims[0], compressed)] + [(d, dense) for d in dims[1:]], index_width, index_width)
        if pattern.kind is PatternKind.CSR:
            return _encoding(4, [(dims[0], dense)] + [(d, compressed) for d in dims[1:]], index_width, index_width)
        raise ValueError(f"conv filters support the patterns csr and channels, not {pattern}")
    if rank != 2:
        raise ValueError(f"sparse encodings are built for matrices and conv filters, not rank {rank}")
    out, red = (dims[0], dims[1]) if reduction_dim == 1 else (dims[1], dims[0])
    kind = pattern.kind
    if kind is PatternKind.CSR:
        levels = [(out, dense), (red, compressed)]
    elif kind is PatternKind.BSR:
        b = ir.AffineExpr.get_constant(pattern.block)
        floor, mod = ir.AffineExpr.get_floor_div, ir.AffineExpr.get_mod
        levels = [(floor(out, b), dense), (floor(red, b), compressed), (mod(out, b), dense), (mod(red, b), dense)]
    elif kind is PatternKind.NM:
        group = ir.AffineExpr.get_constant(pattern.m)
        structured = _level(sparse_tensor.LevelFormat.n_out_of_m, pattern.n, pattern.m)
        levels = [(out, dense), (ir.AffineExpr.get_floor_div(red, group), dense), (ir.AffineExpr.get_mod(red, group), structured)]
    elif kind is PatternKind.CHANNELS:
        levels = [(red, compressed), (out, dense)] if input_channels else [(out, compressed), (red, dense)]
    else:
        raise ValueError("a dense weight has no sparse encoding")
    return _encoding(2, levels, index_width, index_width)


def encoded_type(
    tensor_type: ir.RankedTensorType, pattern: Pattern, reduction_dim: int = 1, input_channels: bool = False, index_width: int = 0
) -> ir.RankedTensorType:
    """``tensor_type`` with the encoding of ``pattern`` attached."""
    attr = encoding(pattern, tensor_type.rank, reduction_dim, input_channels, index_width)
    return ir.RankedTensorType.get(tensor_type.shape, tensor_type.element_type, attr)


def _formats(attr: sparse_tensor.EncodingAttr) -> list[sparse_tensor.LevelFormat]:
    return list(attr.lvl_formats_enum)


def _block_size(attr: sparse_tensor.EncodingAttr) -> int | None:
    """B when the dimension-to-level map is the BSR one (``d floordiv B`` first), else None."""
    results = list(attr.dim_to_lvl.results)
    if len(results) != 4 or not isinstance(results[0], ir.AffineFloorDivExpr):
        return None
    divisor = results[0].rhs
    return divisor.value if isinstance(divisor, ir.AffineConstantExpr) else None


def pattern_of_encoding(attr: ir.Attribute) -> Pattern:
    """The pattern an encoding built by :func:`encoding` (or written by hand alike) describes."""
    enc = sparse_tensor.EncodingAttr(attr)
    formats = _formats(enc)
    LF = sparse_tensor.LevelFormat
    if LF.n_out_of_m in formats:
        return Pattern(PatternKind.NM, n=enc.structured_n, m=enc.structured_m)
    block = _block_size(enc)
    if block is not None:
        return Pattern(PatternKind.BSR, block=block)
    if formats and formats[0] == LF.compressed and all(f == LF.dense for f in formats[1:]):
        return CHANNELS
    return CSR


def torch_layout(attr: ir.Attribute) -> tuple[str, int, int]:
    """The torch layout an argument encoding stands for: (layout, block size, index bit width).

    CSR ``(d0 : dense, d1 : compressed)``, COO ``(compressed(nonunique), singleton...)``,
    BSR ``(d0 floordiv B : dense, d1 floordiv B : compressed, ...)``.
    """
    enc = sparse_tensor.EncodingAttr(attr)
    bits = enc.pos_width or 64
    formats = _formats(enc)
    LF = sparse_tensor.LevelFormat
    if LF.singleton in formats:
        return "coo", 0, bits
    block = _block_size(enc)
    if block is not None:
        return "bsr", block, bits
    if formats == [LF.dense, LF.compressed] and enc.dim_to_lvl == ir.AffineMap.get_identity(2, context=attr.context):
        return "csr", 0, bits
    raise ValueError(f"no torch sparse layout corresponds to {attr}")
