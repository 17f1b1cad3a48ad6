"""TargetSummary: the classes, counts and weight sums of a streamed target."""

import numpy as np
import pytest

from bigfit.models.linear._target import TargetSummary


def _reference(y, w):
    values = sorted(set(y.tolist()))
    return ({v: int(np.sum(y == v)) for v in values},
            {v: float(np.sum(w[y == v])) for v in values})


@pytest.mark.parametrize("y", [
    np.random.default_rng(0).integers(0, 2, 5_000),                     # 0/1
    np.random.default_rng(1).integers(0, 7, 5_000).astype(np.uint8),    # 0..K-1
    np.random.default_rng(2).choice([3, 40, 10_000], 5_000),            # sparse counting labels
    np.random.default_rng(3).choice([-2, 5], 5_000),                    # negative
    np.random.default_rng(4).choice([0, 10**12], 5_000),                # beyond a count table
    np.random.default_rng(5).random(5_000) < 0.3,                       # booleans
    np.random.default_rng(6).choice(np.array(["cat", "dog"], dtype=object), 5_000),
])
def test_counts_and_weights_by_class_over_batches(y):
    w = np.random.default_rng(9).random(len(y))
    summary = TargetSummary(classification=True)
    for part in np.array_split(np.arange(len(y)), 7):
        summary.update(y[part], w[part])
    counts, weights = _reference(y, w)
    assert summary.counts == counts and summary.rows == len(y)
    assert [type(k) for k in summary.counts] == [type(k) for k in counts]  # bools stay bools
    assert summary.weights.keys() == weights.keys()
    np.testing.assert_allclose(list(summary.weights.values()), list(weights.values()))
    np.testing.assert_array_equal(summary.classes(), np.array(sorted(counts)))


def test_missing_labels_are_counted_apart():
    summary = TargetSummary(classification=True).update(np.array([1.0, np.nan, 0.0, 1.0]), None)
    assert summary.counts == {0.0: 1, 1.0: 2} and summary.missing == 1 and summary.rows == 4
