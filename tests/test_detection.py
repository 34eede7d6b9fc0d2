"""Detection finds the pattern that was planted, and requested patterns are checked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sparsile.dialects.patterns import BLOCK_SIZES, Pattern, PatternKind
from sparsile.passes.formats.bsr import BLOCK_FILL, block_density
from sparsile.passes.formats.channels import CHANNEL_FILL
from sparsile.passes.formats.nm import NM_TIGHTNESS, tightest_nm
from sparsile.passes.pattern_detection import check_requested, choose_pattern
from sparsile.passes.weight_stats import measure

ALL = frozenset(PatternKind)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def values(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Nonzero float32 values (planted zeros are the only zeros)."""
    magnitude = rng.uniform(0.1, 1.0, size=shape)
    return (magnitude * rng.choice([-1.0, 1.0], size=shape)).astype(np.float32)


def detect(weight: np.ndarray, min_sparsity: float = 0.25, kinds: frozenset[PatternKind] = ALL) -> Pattern:
    return choose_pattern(weight != 0, measure(weight), min_sparsity, kinds)


def nm_tight(weight: np.ndarray) -> bool:
    """Whether the weight is about as dense as the tightest N:M it satisfies (so N:M detection takes it)."""
    nm = tightest_nm(weight != 0)
    return nm is not None and measure(weight).density >= NM_TIGHTNESS * nm[0] / nm[1]


def block_fill(weight: np.ndarray, block: int) -> float:
    rows, cols = weight.shape
    if rows % block or cols % block:
        return 0.0
    occupied = block_density(weight != 0, block)
    return measure(weight).density / occupied if occupied else 0.0


def is_channel_like(weight: np.ndarray) -> bool:
    stats = measure(weight)
    return bool(stats.zero_rows or stats.zero_cols) and stats.kept_fill >= CHANNEL_FILL


seeds = st.integers(0, 2**32 - 1)


@SETTINGS
@given(seed=seeds, rows=st.integers(32, 96), cols=st.integers(32, 96), sparsity=st.floats(0.5, 0.97))
def test_unstructured_is_csr(seed, rows, cols, sparsity):
    rng = np.random.default_rng(seed)
    weight = values(rng, (rows, cols)) * (rng.random((rows, cols)) >= sparsity)
    stats = measure(weight)
    assume(stats.sparsity >= 0.3 and not is_channel_like(weight))
    assume(not nm_tight(weight))
    assume(all(block_fill(weight, b) < BLOCK_FILL for b in BLOCK_SIZES))
    assert detect(weight) == Pattern(PatternKind.CSR)


@SETTINGS
@given(seed=seeds, rows=st.integers(8, 40), groups=st.integers(2, 24), nm=st.sampled_from([(1, 4), (2, 4), (2, 8), (4, 8)]))
def test_planted_n_of_m(seed, rows, groups, nm):
    n, m = nm
    rng = np.random.default_rng(seed)
    weight = values(rng, (rows, groups * m)).reshape(rows, groups, m)
    keep = np.argsort(rng.random((rows, groups, m)), axis=2)[:, :, :n]
    # One group packs its nonzeros into the first half, so the finer pattern (2:4 for 4:8,
    # 1:4 for 2:8) provably does not hold: what was planted is the tightest that does.
    keep[0, 0] = np.arange(n)
    mask = np.zeros((rows, groups, m), bool)
    np.put_along_axis(mask, keep, True, axis=2)
    weight = (weight * mask).reshape(rows, groups * m)
    assume(not is_channel_like(weight))  # e.g. every row keeping the same columns: that is channel pruning
    assert detect(weight) == Pattern(PatternKind.NM, n=n, m=m)


@SETTINGS
@given(seed=seeds, block=st.sampled_from(BLOCK_SIZES), block_rows=st.integers(2, 6), block_cols=st.integers(2, 6), occupied=st.floats(0.15, 0.7))
def test_planted_blocks(seed, block, block_rows, block_cols, occupied):
    rng = np.random.default_rng(seed)
    grid = rng.random((block_rows, block_cols)) < occupied
    assume(grid.any() and not grid.all())
    weight = values(rng, (block_rows * block, block_cols * block)) * np.kron(grid, np.ones((block, block)))
    assume(not is_channel_like(weight))
    assume(measure(weight).sparsity >= 0.25)
    assume(all(block_fill(weight, b) < BLOCK_FILL for b in BLOCK_SIZES if b > block))
    assert detect(weight) == Pattern(PatternKind.BSR, block=block)


@SETTINGS
@given(seed=seeds, rows=st.integers(4, 64), cols=st.integers(4, 64), dead_rows=st.floats(0.1, 0.8), dead_cols=st.floats(0.0, 0.5))
def test_planted_channels(seed, rows, cols, dead_rows, dead_cols):
    rng = np.random.default_rng(seed)
    row_mask = rng.random(rows) >= dead_rows
    col_mask = rng.random(cols) >= dead_cols
    assume(row_mask.any() and col_mask.any() and (not row_mask.all() or not col_mask.all()))
    weight = values(rng, (rows, cols)) * np.outer(row_mask, col_mask)
    assume(measure(weight).sparsity >= 0.25)
    stats = measure(weight)
    assert stats.zero_rows == int((~row_mask).sum()) and stats.zero_cols == int((~col_mask).sum())
    assert detect(weight) == Pattern(PatternKind.CHANNELS)


@SETTINGS
@given(seed=seeds, rows=st.integers(8, 64), fanin=st.integers(1, 12))
def test_constant_fan_in(seed, rows, fanin):
    cols = 64
    rng = np.random.default_rng(seed)
    mask = np.zeros((rows, cols), bool)
    for r in range(rows):
        mask[r, rng.choice(cols, fanin, replace=False)] = True
    weight = values(rng, (rows, cols)) * mask
    stats = measure(weight)
    assert stats.fanin == fanin
    assume(not is_channel_like(weight))
    assume(not nm_tight(weight))
    assert detect(weight) == Pattern(PatternKind.CSR)


@SETTINGS
@given(seed=seeds, rows=st.integers(1, 40), cols=st.integers(1, 40), zeros=st.floats(0.0, 0.2))
def test_dense_and_below_threshold(seed, rows, cols, zeros):
    rng = np.random.default_rng(seed)
    weight = values(rng, (rows, cols)) * (rng.random((rows, cols)) >= zeros)
    assume(measure(weight).sparsity < 0.25)
    assert detect(weight) == Pattern(PatternKind.DENSE)


def test_allowed_kinds_restrict_the_choice():
    rng = np.random.default_rng(0)
    keep = np.argsort(rng.random((16, 4, 4)), axis=2)[:, :, :2]
    mask = np.zeros((16, 4, 4), bool)
    np.put_along_axis(mask, keep, True, axis=2)
    weight = values(rng, (16, 16)) * mask.reshape(16, 16)
    assert detect(weight) == Pattern(PatternKind.NM, n=2, m=4)
    assert detect(weight, kinds=frozenset({PatternKind.CSR})) == Pattern(PatternKind.CSR)
    assert detect(weight, kinds=frozenset()) == Pattern(PatternKind.DENSE)


def test_requested_patterns_are_checked():
    weight = np.ones((4, 8), np.float32)
    assert check_requested(weight != 0, Pattern.parse("2:4")) == "row 0, columns 0..3 hold 4 nonzeros (at most 2 allowed)"
    assert check_requested(weight != 0, Pattern.parse("bsr16")) == "its shape 4x8 is not a multiple of 16x16 blocks"
    assert check_requested(weight != 0, Pattern.parse("channels")) == "it has no all-zero output rows or input channels"
    assert check_requested(weight != 0, Pattern.parse("csr")) is None
    assert check_requested(np.ones((4, 6), bool), Pattern.parse("2:4")) == "its reduction dimension (6) is not a multiple of 4"


@pytest.mark.parametrize("text", ["2:4", "4:8", "bsr16", "csr", "dense", "channels"])
def test_pattern_text_round_trips(text):
    assert str(Pattern.parse(text)) == text


@pytest.mark.parametrize("text", ["3:3", "bsr5", "blocks", ""])
def test_bad_pattern_text(text):
    with pytest.raises(ValueError, match="unknown sparsity pattern"):
        Pattern.parse(text)
