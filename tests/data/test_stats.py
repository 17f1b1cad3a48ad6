"""Mergeable sketches against numpy on the concatenated data."""

from __future__ import annotations

import collections
import math
import subprocess
import sys
import warnings

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bigfit.data._hashing import hash_array, mix64
from bigfit.data.stats import DistinctSketch, Moments, TopValues
from bigfit.engine.base import tree_combine
from bigfit.exceptions import DataError, InvalidParameterError, SchemaError
from tests.conftest import assert_states_equal


@st.composite
def split_rows(draw, n_rows: int) -> list[list[slice]]:
    """Cut ``range(n_rows)`` into batches, then group consecutive batches into shards."""
    cuts = sorted(draw(st.lists(st.integers(0, n_rows), max_size=6)))
    bounds = [0, *cuts, n_rows]
    batches = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    groups = draw(st.lists(st.integers(1, len(batches) - 1), max_size=3, unique=True)) \
        if len(batches) > 1 else []
    marks = [0, *sorted(groups), len(batches)]
    return [batches[a:b] for a, b in zip(marks[:-1], marks[1:], strict=True)]


def sketch_of(parts, data, make):
    """Fill one sketch per shard batch by batch, then merge the shards by a tree, like an engine."""
    partials = []
    for shard in parts:
        sketch = make()
        for rows in shard:
            sketch.update(data[rows])
        partials.append(sketch)
    return tree_combine(partials, lambda a, b: a.merge(b))


def hashes(values) -> np.ndarray:
    """Well-spread non-zero uint64 hashes standing for the integer values given."""
    return mix64(np.asarray(values, dtype=np.uint64), seed=1) | np.uint64(1)


# -- Moments ----------------------------------------------------------------------------

matrices = st.integers(1, 4).flatmap(lambda d: hnp.arrays(
    np.float32, st.tuples(st.integers(0, 40), st.just(d)),
    elements=st.one_of(st.floats(-1e6, 1e6, width=32), st.just(np.nan))))


def assert_moments_match(moments, X, rtol=1e-12):
    """Count, nulls, min and max exactly as numpy's; mean and variance up to ``rtol``.

    The reference mean and variance sum exactly (``math.fsum``): on long columns numpy's
    ``nanmean`` is itself off by more than 1e-12 (0.1 repeated 70,000 times).
    """
    x = np.asarray(X, dtype=np.float64)
    observed = ~np.isnan(x)
    np.testing.assert_array_equal(moments.count, observed.sum(axis=0))
    np.testing.assert_array_equal(moments.nulls, (~observed).sum(axis=0))
    seen = observed.any(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low = np.where(seen, np.nanmin(x, 0, initial=np.inf), np.nan)
        high = np.where(seen, np.nanmax(x, 0, initial=-np.inf), np.nan)
    mean, var = np.full(x.shape[1], np.nan), np.full(x.shape[1], np.nan)
    for j in np.flatnonzero(seen):
        values = x[observed[:, j], j]
        mean[j] = math.fsum(values) / len(values)
        var[j] = math.fsum((values - mean[j]) ** 2) / len(values)
    np.testing.assert_array_equal(moments.min, low)
    np.testing.assert_array_equal(moments.max, high)
    # In units of each column's largest value: slack for means near 0 and zero variances.
    scale = np.fmax.reduce(np.abs(x), axis=0, initial=1.0)
    np.testing.assert_allclose(moments.mean / scale, mean / scale, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(moments.var / scale**2, var / scale**2, rtol=rtol, atol=1e-28)
    np.testing.assert_allclose(moments.std / scale, np.sqrt(var) / scale, rtol=rtol, atol=1e-14)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), X=matrices)
def test_moments_do_not_depend_on_the_split(data, X):
    moments = sketch_of(data.draw(split_rows(len(X))), X, Moments)
    assert_moments_match(moments, X)


def awkward_matrix(n_rows: int, dtype, seed: int = 0) -> np.ndarray:
    """Columns that trip naive code: NaNs, constants, no value, far from zero, wide range."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.standard_normal(n_rows),
        3.0 + 2.0 * rng.standard_normal(n_rows),
        np.full(n_rows, 0.1),  # constant: its variance must be exactly 0
        np.full(n_rows, np.nan),  # no value at all
        1e6 + rng.standard_normal(n_rows),  # naive sums of squares cancel
        rng.standard_normal(n_rows) * 10.0 ** rng.integers(-8, 8, n_rows),
        rng.integers(-5, 5, n_rows),
    ])
    X[:, [0, 1, 4, 5]] = np.where(rng.random((n_rows, 4)) < 0.1, np.nan, X[:, [0, 1, 4, 5]])
    return X.astype(dtype)


def layouts(X: np.ndarray) -> dict[str, np.ndarray]:
    """The same values in C order, Fortran order and as a strided view of a larger array."""
    big = np.zeros((2 * X.shape[0], 2 * X.shape[1] + 1), dtype=X.dtype)
    big[::2, 1::2] = X
    return {"C": np.ascontiguousarray(X), "F": np.asfortranarray(X), "view": big[::2, 1::2]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [1, 2, 1023, 1024, 1025, 5000, 70_000])
def test_moments_are_exact_for_any_length_dtype_and_layout(dtype, n_rows):
    X = awkward_matrix(n_rows, dtype)
    states = [Moments().update(values).to_state() for values in layouts(X).values()]
    for state in states[1:]:
        assert_states_equal(state, states[0])
    moments = Moments.from_state(states[0])
    assert_moments_match(moments, X)
    assert (moments.mean[2], moments.var[2]) == (float(dtype(0.1)), 0.0)  # exactly


@pytest.mark.parametrize("width", [1, 2, 3, 7, 31, 33, 300])
def test_moments_of_narrow_and_wide_matrices_are_exact(width):
    rng = np.random.default_rng(width)
    X = 5.0 + rng.standard_normal((2_500, width))
    X[rng.random(X.shape) < 0.05] = np.nan
    assert_moments_match(Moments().update(X), X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_of_batches_and_merged_partials_equal_one_update(dtype):
    X = awkward_matrix(5000, dtype, seed=1)
    whole = Moments().update(X)
    batches, partials = Moments(), []
    for rows in np.split(np.arange(5000), [1, 1024, 1025, 3000, 3000, 4999]):
        batches.update(X[rows])
        partials.append(Moments().update(X[rows]))
    merged = tree_combine(partials, lambda a, b: a.merge(b))
    for moments in (batches, merged):
        for name in ("count", "nulls", "min", "max"):
            np.testing.assert_array_equal(getattr(moments, name), getattr(whole, name))
        assert (moments.mean[2], moments.var[2]) == (whole.mean[2], 0.0)
        # Each merge subtracts two means rounded to float64; for values near 1e6 (column
        # 4) that costs about 1e-12 of the variance.
        assert_moments_match(moments, X, rtol=1e-11)


@pytest.mark.parametrize("n_rows", [3, 5000])
def test_moments_of_infinite_values(n_rows):
    """min and max keep the infinities; mean or variance turn non-finite, as numpy's do."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n_rows, 6))
    X[1, 0] = np.inf  # among finite values
    X[0, 1], X[-1, 1] = np.inf, -np.inf  # both signs
    X[:, 2] = -np.inf
    X[n_rows // 2, 3] = np.nan
    X[-1, 3] = np.inf
    X[:, 4] = 1e308  # huge but finite and constant: no overflow
    X[::2, 5] = np.nan
    X[1, 5] = -np.inf
    for parts in ([X], np.array_split(X, 3)):
        moments = Moments()
        for part in parts:
            moments.update(part)
        np.testing.assert_array_equal(moments.min[:4], [X[:, 0].min(), -np.inf, -np.inf,
                                                        np.nanmin(X[:, 3])])
        np.testing.assert_array_equal(moments.max[:4], [np.inf, np.inf, -np.inf, np.inf])
        np.testing.assert_array_equal(moments.nulls, np.isnan(X).sum(axis=0))
        infinite = [0, 1, 2, 3, 5]
        assert np.isnan(moments.var[infinite]).all()
        assert not np.isfinite(moments.mean[infinite]).any()
        assert (moments.mean[4], moments.var[4]) == (1e308, 0.0)
    # Within one block of rows the mean is numpy's (across blocks it may be NaN instead).
    if n_rows == 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            np.testing.assert_array_equal(Moments().update(X).mean[infinite],
                                          np.nanmean(X, 0)[infinite])


def test_moments_of_integer_and_boolean_values():
    ints = np.array([[1, -2], [3, 4], [5, 7]], dtype=np.int64)
    assert_moments_match(Moments().update(ints), ints)
    flags = np.array([[True], [False], [True], [True]])
    moments = Moments().update(flags)
    assert (moments.mean[0], moments.var[0], moments.min[0], moments.max[0]) == (0.75, 0.1875, 0, 1)


def test_moments_of_empty_batches_change_nothing():
    moments = Moments().update(np.zeros((0, 3)))
    assert moments.n_features == 3 and moments.count.tolist() == [0, 0, 0]
    moments.update(np.array([[1.0, np.nan, 2.0]]))
    before = moments.to_state()
    moments.update(np.zeros((0, 3), dtype=np.float32))
    assert_states_equal(moments.to_state(), before)
    assert Moments().update(np.zeros((4, 0))).n_features == 0


def test_importing_stats_does_not_import_numba():
    """numba takes a quarter of a second to import; only Moments.update needs it."""
    code = ("import sys, bigfit, bigfit.data.stats; print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_moments_are_stable_far_from_zero():
    rng = np.random.default_rng(0)
    X = 1e9 + rng.standard_normal((10_000, 1))
    moments = Moments()
    for part in np.array_split(X, 7):
        moments.update(part)
    np.testing.assert_allclose(moments.var, X.var(axis=0), rtol=1e-6)


def test_moments_example():
    moments = Moments().update(np.array([[1.0, np.nan], [3.0, 2.0]]))
    moments.merge(Moments().update(np.array([[5.0, 4.0]])))
    np.testing.assert_array_equal(moments.mean, [3.0, 3.0])
    np.testing.assert_allclose(moments.var, [8 / 3, 1.0])
    np.testing.assert_array_equal(moments.nulls, [0, 1])
    np.testing.assert_array_equal(moments.min, [1.0, 2.0])
    assert moments.n_features == 2


def test_moments_of_an_empty_column_are_nan():
    moments = Moments().update(np.full((3, 1), np.nan, dtype=np.float32))
    assert moments.count[0] == 0 and moments.nulls[0] == 3
    assert np.isnan([moments.mean[0], moments.var[0], moments.min[0], moments.max[0]]).all()


def test_empty_moments_merge_as_identity():
    filled = Moments().update(np.arange(6.0).reshape(3, 2))
    before = filled.to_state()
    filled.merge(Moments())
    assert_states_equal(filled.to_state(), before)
    assert_states_equal(Moments().merge(filled).to_state(), before)
    assert Moments(n_features=2).n_features == 2


def test_moments_state_round_trip():
    moments = Moments().update(np.array([[1.0, np.nan], [2.5, -3.0]], dtype=np.float32))
    again = Moments.from_state(moments.to_state())
    assert_states_equal(again.to_state(), moments.to_state())
    assert_states_equal(Moments.from_state(Moments().to_state()).to_state(), Moments().to_state())


def test_moments_reject_another_width_and_shape():
    moments = Moments().update(np.zeros((2, 3)))
    with pytest.raises(SchemaError, match="3 columns; got 2"):
        moments.update(np.zeros((2, 2)))
    with pytest.raises(SchemaError):
        moments.merge(Moments().update(np.zeros((1, 4))))
    with pytest.raises(DataError, match="2-D"):
        moments.update(np.zeros(3))


# -- DistinctSketch ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [100_000, 1_000_000])
def test_distinct_sketch_is_within_a_few_percent(n):
    sketch = DistinctSketch()
    for part in np.array_split(hashes(np.arange(n)), 10):
        sketch.update(np.concatenate([part, part[: len(part) // 2]]))  # duplicates too
    assert abs(sketch.estimate() / n - 1) < 0.03


@pytest.mark.parametrize("n", [0, 1, 2, 5, 10, 50])
def test_distinct_sketch_is_exact_for_small_counts(n):
    assert round(DistinctSketch().update(hashes(np.arange(n))).estimate()) == n


def test_distinct_sketch_small_range_is_close():
    estimate = DistinctSketch().update(hashes(np.arange(2000))).estimate()
    assert abs(estimate - 2000) < 20


def test_distinct_sketch_accepts_poorly_spread_hashes():
    assert abs(DistinctSketch().update(np.arange(1, 50_001, dtype=np.uint64)).estimate()
               / 50_000 - 1) < 0.03


@settings(max_examples=50, deadline=None)
@given(data=st.data(), values=hnp.arrays(np.uint64, st.integers(0, 300),
                                         elements=st.integers(0, 2**64 - 1)))
def test_distinct_sketch_merge_equals_one_pass(data, values):
    merged = sketch_of(data.draw(split_rows(len(values))), values, DistinctSketch)
    np.testing.assert_array_equal(merged.registers, DistinctSketch().update(values).registers)


def test_distinct_sketch_ignores_missing_and_round_trips():
    sketch = DistinctSketch(precision=12).update(np.zeros(10, dtype=np.uint64))
    assert sketch.estimate() == 0.0
    sketch.update(hashes([1, 2, 3, 3]))
    again = DistinctSketch.from_state(sketch.to_state())
    assert again.precision == 12
    np.testing.assert_array_equal(again.registers, sketch.registers)
    assert round(again.estimate()) == 3


def test_distinct_sketch_rejects_bad_precision():
    with pytest.raises(InvalidParameterError, match=r"'precision' parameter of DistinctSketch"):
        DistinctSketch(precision=3)
    with pytest.raises(InvalidParameterError, match="same precision"):
        DistinctSketch(12).merge(DistinctSketch(14))


# -- TopValues --------------------------------------------------------------------------

def test_top_values_are_exact_under_capacity():
    values = hashes(np.repeat(np.arange(20), np.arange(1, 21)))
    values = np.concatenate([values, np.zeros(5, dtype=np.uint64)])
    top = TopValues(capacity=20)
    for part in np.array_split(values, 4):
        top.update(part)
    assert not top.approximate and top.max_error == 0
    assert top.n_missing == 5 and top.n_seen == 210 and len(top) == 20
    keys, counts = top.top(3)
    np.testing.assert_array_equal(keys, hashes([19, 18, 17]))
    np.testing.assert_array_equal(counts, [20, 19, 18])
    assert top.count(int(hashes([4])[0])) == 5
    assert top.count(12345) == 0


@settings(max_examples=100, deadline=None)
@given(data=st.data(), values=hnp.arrays(np.uint64, st.integers(0, 200),
                                         elements=st.integers(0, 30)),
       capacity=st.integers(1, 40))
def test_top_values_bounds_hold_for_any_split(data, values, capacity):
    top = sketch_of(data.draw(split_rows(len(values))), values,
                    lambda: TopValues(capacity=capacity))
    truth = collections.Counter(int(v) for v in values if v != 0)
    assert top.n_seen == sum(truth.values()) and top.n_missing == int((values == 0).sum())
    assert len(top) <= capacity
    assert top.max_error <= top.n_seen / (capacity + 1)
    if len(truth) <= capacity:  # exact regime, whatever the split
        assert not top.approximate
        assert {int(k): int(c) for k, c in zip(*top.top(), strict=True)} == truth
    for value, true_count in truth.items():
        assert true_count - top.max_error <= top.count(value) <= true_count
        if true_count > top.n_seen / (capacity + 1):
            assert top.count(value) > 0  # heavy hitters are never dropped


def test_top_values_find_heavy_hitters_in_skewed_data():
    rng = np.random.default_rng(0)
    raw = rng.zipf(1.3, size=200_000)
    top = TopValues(capacity=100)
    for part in np.array_split(hashes(raw), 20):
        top.update(part)
    assert top.approximate and top.max_error <= top.n_seen / 101
    true_values, true_counts = np.unique(raw, return_counts=True)
    heaviest = true_values[np.argsort(-true_counts)[:10]]
    assert set(top.top(10)[0].tolist()) == set(hashes(heaviest).tolist())


def test_top_values_labels():
    top = TopValues(capacity=2).update(hashes([1, 1, 1, 2, 2]))
    top.set_labels(hashes([1, 2, 3]), ["cat", "dog", "eel"])
    assert top.most_common() == [("cat", 3), ("dog", 2)]
    assert top.label(int(hashes([3])[0])) is None  # not tracked: label not kept
    top.update(hashes([4, 4, 4, 4, 4, 5]))  # drops 'dog', and its label
    assert top.label(int(hashes([2])[0])) is None and top.approximate
    assert top.most_common(1)[0][0] == f"#{int(hashes([4])[0]):016x}"
    with pytest.raises(DataError, match="2 hashes but 1 labels"):
        top.set_labels(hashes([1, 2]), ["x"])


@pytest.mark.parametrize("array", [
    pa.array(["cat", "dog", "cat", None, "cat"]),
    pa.array(["cat", "dog", "cat", None, "cat"]).dictionary_encode(),
    pa.chunked_array([["cat", "dog"], ["cat", None, "cat"]]),
])
def test_top_values_from_arrow_keep_labels(array):
    top = TopValues().update_arrow(array, seed=3)
    assert top.most_common() == [("cat", 3), ("dog", 1)]
    assert top.n_missing == 1
    np.testing.assert_array_equal(np.sort(top.top()[0]),
                                  np.sort(hash_array(pa.array(["cat", "dog"]), 3)))


def test_top_values_merge_keeps_labels_and_state_round_trips():
    left = TopValues(capacity=8).update_arrow(pa.array(["a", "b", "a"]))
    right = TopValues(capacity=8).update_arrow(pa.array(["c", "a", None]))
    merged = left.merge(right)
    assert merged.most_common() == [("a", 3), ("b", 1), ("c", 1)] or \
        merged.most_common() == [("a", 3), ("c", 1), ("b", 1)]
    again = TopValues.from_state(merged.to_state())
    assert_states_equal(again.to_state(), merged.to_state())
    assert again.most_common() == merged.most_common()


def test_top_values_reject_bad_capacity():
    with pytest.raises(InvalidParameterError,
                       match=r"'capacity' parameter of TopValues must be an int in the range "
                             r"\[1, inf\)\. Got 0 instead\."):
        TopValues(capacity=0)
