"""Mergeable sketches against numpy on the concatenated data."""

from __future__ import annotations

import collections
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


@settings(max_examples=200, deadline=None)
@given(data=st.data(), X=matrices)
def test_moments_do_not_depend_on_the_split(data, X):
    moments = sketch_of(data.draw(split_rows(len(X))), X, Moments)

    observed = ~np.isnan(X)
    np.testing.assert_array_equal(moments.count, observed.sum(axis=0))
    np.testing.assert_array_equal(moments.nulls, (~observed).sum(axis=0))
    x = X.astype(np.float64)
    seen = observed.any(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low = np.where(seen, np.nanmin(x, 0, initial=np.inf), np.nan)
        high = np.where(seen, np.nanmax(x, 0, initial=-np.inf), np.nan)
        mean, var = np.nanmean(x, 0), np.nanvar(x, 0)
    np.testing.assert_array_equal(moments.min, low)
    np.testing.assert_array_equal(moments.max, high)
    scale = float(np.nanmax(np.abs(x), initial=1.0))
    np.testing.assert_allclose(moments.mean, mean, rtol=1e-12, atol=1e-13 * scale)
    np.testing.assert_allclose(moments.var, var, rtol=1e-12, atol=1e-13 * scale**2)
    np.testing.assert_allclose(moments.std, np.sqrt(var), rtol=1e-12, atol=1e-6 * scale)


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
