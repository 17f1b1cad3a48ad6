"""Streaming metrics against scikit-learn's metric functions on the concatenated data."""

from __future__ import annotations

import doctest
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

import bigfit.models.metrics as metrics_package
from bigfit.engine.base import tree_combine
from bigfit.exceptions import DataError, EmptyDatasetError, InvalidParameterError
from bigfit.models.metrics import (
    ClassificationMetrics,
    RegressionMetrics,
    _checks,
    _classification,
    _regression,
    _roc,
)
from tests.conftest import assert_states_equal
from tests.data.test_stats import split_rows

EXACT = {"rtol": 1e-9, "atol": 1e-9}


def accumulate(parts, make, *columns, roundtrip=False):
    """One accumulator per shard, filled batch by batch, merged by a tree like an engine."""
    partials = []
    for shard in parts:
        metrics = make()
        for rows in shard:
            metrics.update(*(None if c is None else c[rows] for c in columns))
        if roundtrip:  # what crosses the wire between workers
            metrics = type(metrics).from_state(pickle.loads(pickle.dumps(metrics.to_state())))
        partials.append(metrics)
    return tree_combine(partials, lambda a, b: a.merge(b))


# -- classification ---------------------------------------------------------------------

@st.composite
def classification_data(draw):
    """Random probabilities (continuous or with ties), labels and optional weights."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, k = draw(st.integers(1, 80)), draw(st.integers(2, 4))
    proba = rng.dirichlet(np.ones(k), size=n)
    if k == 2 and draw(st.booleans()):  # ties: few distinct scores
        proba[:, 1] = np.round(proba[:, 1], 1)
        proba[:, 0] = 1.0 - proba[:, 1]
    y = rng.integers(0, k, n)
    weights = rng.uniform(0.0, 3.0, n) if draw(st.booleans()) else None
    if k == 2 and draw(st.booleans()):
        proba = proba[:, 1]  # the positive-class column only
    return y, proba, weights


def sklearn_classification(y, proba, weights):
    k = 2 if proba.ndim == 1 else proba.shape[1]
    full = np.column_stack([1 - proba, proba]) if proba.ndim == 1 else proba
    expected = {
        "accuracy": skm.accuracy_score(y, full.argmax(axis=1), sample_weight=weights),
        "log_loss": skm.log_loss(y, proba, sample_weight=weights, labels=np.arange(k)),
        "confusion_matrix": skm.confusion_matrix(y, full.argmax(axis=1), sample_weight=weights,
                                                 labels=np.arange(k)),
        "roc_auc": None,
    }
    if len(np.unique(y[weights > 0] if weights is not None else y)) == k:
        expected["roc_auc"] = skm.roc_auc_score(y, full[:, 1] if k == 2 else full,
                                                multi_class="ovr", sample_weight=weights,
                                                labels=np.arange(k))
    return expected


@settings(max_examples=150, deadline=None)
@given(data=st.data(), case=classification_data(), roundtrip=st.booleans())
def test_classification_matches_sklearn_whatever_the_split(data, case, roundtrip):
    y, proba, weights = case
    if weights is not None and not weights.sum() > 0:
        return
    k = 2 if proba.ndim == 1 else proba.shape[1]
    parts = data.draw(split_rows(len(y)))
    result = accumulate(parts, lambda: ClassificationMetrics(k), y, proba, weights,
                        roundtrip=roundtrip).result()
    expected = sklearn_classification(y, proba, weights)

    assert result["n"] == len(y)
    np.testing.assert_allclose(result["accuracy"], expected["accuracy"], **EXACT)
    np.testing.assert_allclose(result["log_loss"], expected["log_loss"], **EXACT)
    np.testing.assert_allclose(result["confusion_matrix"], expected["confusion_matrix"], **EXACT)
    if expected["roc_auc"] is not None:
        assert result["roc_auc_reason"] is None
        assert result["roc_auc"] == pytest.approx(expected["roc_auc"], abs=1e-4)


def informative_binary(n, scale, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    logit = scale * (2 * y - 1 + 1.5 * rng.normal(size=n))
    return y, 1 / (1 + np.exp(-logit)), rng.uniform(0.1, 3.0, n)


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0], ids=["near-half", "logistic", "confident"])
def test_binary_auc_is_within_1e_4_of_sklearn_on_many_rows(scale):
    y, p, w = informative_binary(300_000, scale, seed=int(scale * 10))
    metrics = tree_combine([ClassificationMetrics(2).update(y[rows], p[rows], w[rows])
                            for rows in np.array_split(np.arange(len(y)), 7)],
                           lambda a, b: a.merge(b))
    assert metrics.result()["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, p, sample_weight=w), abs=1e-5)


def test_multiclass_auc_is_the_one_vs_rest_macro_mean():
    rng = np.random.default_rng(3)
    n, k = 100_000, 5
    y = rng.integers(0, k, n)
    logits = 2 * rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    result = ClassificationMetrics(k).update(y[:40_000], proba[:40_000]).merge(
        ClassificationMetrics(k).update(y[40_000:], proba[40_000:])).result()
    assert result["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-5)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, proba), rel=1e-12)


def test_a_class_never_predicted_and_string_labels():
    y = np.array([0, 1, 2, 2, 1])
    proba = np.array([[0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.5, 0.4, 0.1],
                      [0.2, 0.5, 0.3], [0.9, 0.1, 0.0]])
    result = ClassificationMetrics(["cat", "dog", "eel"]).update(y, proba).result()
    assert result["classes"] == ["cat", "dog", "eel"]
    assert result["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
    assert result["accuracy"] == pytest.approx(0.4)
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, proba))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))


def test_one_class_only_leaves_auc_undefined_with_a_reason():
    result = ClassificationMetrics(["no", "yes"]).update([1, 1, 1], [0.9, 0.2, 0.6]).result()
    assert result["roc_auc"] is None
    assert "undefined" in result["roc_auc_reason"] and "['yes']" in result["roc_auc_reason"]
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["confusion_matrix"] == [[0, 0], [1, 2]]


def test_a_class_absent_from_y_is_left_out_of_the_auc_mean():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    y = rng.choice([0, 1, 3], size=200)
    result = ClassificationMetrics(4).update(y, proba).result()
    present = [skm.roc_auc_score(y == c, proba[:, c]) for c in (0, 1, 3)]
    assert result["roc_auc"] == pytest.approx(np.mean(present), abs=1e-4)
    assert "[2]" in result["roc_auc_reason"]


def test_float32_probabilities_are_clipped_like_sklearn():
    proba = np.array([[1.0, 0.0], [0.3, 0.7]], dtype=np.float32)
    result = ClassificationMetrics(2).update([1, 1], proba).result()
    assert result["log_loss"] == pytest.approx(skm.log_loss([1, 1], proba, labels=[0, 1]),
                                               rel=1e-6)
    assert result["log_loss"] == pytest.approx(
        (-np.log(np.finfo(np.float32).eps) - np.log(np.float32(0.7))) / 2, rel=1e-6)


def test_weighted_confusion_matrix_holds_floats():
    result = ClassificationMetrics(2).update([0, 1], [0.2, 0.4], [0.5, 2.0]).result()
    assert result["confusion_matrix"] == [[0.5, 0.0], [2.0, 0.0]]
    assert result["accuracy"] == pytest.approx(0.2)


@pytest.mark.parametrize(("y", "proba", "weights", "match"), [
    ([0, 1], [[0.5, 0.5], [np.nan, 0.5]], None, r"NaN or infinite.*row 1, column 0"),
    ([0, 1], [0.5, np.inf], None, r"proba holds 1 NaN or infinite value\(s\).*row 1"),
    ([0, 1], [0.5, 1.5], None, r"in \[0, 1\]; got 1.5 at row 1"),
    ([0, 2], [0.5, 0.5], None, r"class index 2 at row 1"),
    ([0, 0.5], [0.5, 0.5], None, r"class indices \(integers\); got 0.5"),
    (["a", "b"], [0.5, 0.5], None, r"dtype <U1"),
    ([0, 1], [[0.5, 0.3, 0.2]] * 2, None, r"shape \(n_rows, 2\)"),
    ([0, 1, 1], [0.5, 0.5], None, r"proba has 2 rows but y_true has 3"),
    ([0, 1], [0.5, 0.5], [1.0, -1.0], r"non-negative; got -1.0 at row 1"),
    ([0, 1], [0.5, 0.5], [1.0, np.nan], r"sample_weight holds 1 NaN"),
    ([0, 1], [0.5, 0.5], [1.0], r"sample_weight has 1 rows but the batch has 2"),
])
def test_bad_classification_input_gets_a_clear_data_error(y, proba, weights, match):
    metrics = ClassificationMetrics(2)
    with pytest.raises(DataError, match=match):
        metrics.update(np.asarray(y), np.asarray(proba), weights)
    assert metrics.n_rows == 0


def test_empty_or_weightless_metrics_refuse_a_result():
    with pytest.raises(EmptyDatasetError, match="no rows"):
        ClassificationMetrics(3).update(np.zeros(0, int), np.zeros((0, 3))).result()
    with pytest.raises(EmptyDatasetError, match="no rows"):
        RegressionMetrics().update(np.zeros(0), np.zeros(0)).result()
    with pytest.raises(DataError, match="zero sample_weight"):
        ClassificationMetrics(2).update([0, 1], [0.1, 0.2], [0.0, 0.0]).result()
    with pytest.raises(DataError, match="zero sample_weight"):
        RegressionMetrics().update([1.0], [2.0], [0.0]).result()


@pytest.mark.parametrize(("classes", "bins"), [(1, 8), (["a", "a"], 8), (True, 8), ("ab", 8),
                                               ([[1], [2]], 8), (3, 1), (3, 2.5)])
def test_bad_parameters(classes, bins):
    with pytest.raises(InvalidParameterError, match="parameter"):
        ClassificationMetrics(classes, auc_bins=bins)


def test_merging_different_classes_or_bins_is_refused():
    with pytest.raises(InvalidParameterError, match="same classes and auc_bins"):
        ClassificationMetrics(2).merge(ClassificationMetrics(3))
    with pytest.raises(InvalidParameterError, match="same classes and auc_bins"):
        ClassificationMetrics(2).merge(ClassificationMetrics(2, auc_bins=64))


@pytest.mark.parametrize("n_rows", [1_000, 20_000], ids=["exact", "histograms"])
def test_classification_state_round_trip_is_exact(n_rows):
    y, p, w = informative_binary(n_rows, 1.0, seed=1)
    metrics = ClassificationMetrics(np.array(["a", "b"]), auc_bins=256).update(y, p, w)
    assert metrics._roc.exact == (n_rows == 1_000)
    copy = ClassificationMetrics.from_state(metrics.to_state())
    assert_states_equal(copy.to_state(), metrics.to_state())
    assert copy.result() == metrics.result()
    merged = ClassificationMetrics(["a", "b"], auc_bins=256).merge(metrics)
    assert merged.result() == metrics.result()


def test_exact_partials_merge_into_histograms_past_the_row_limit():
    y, p, w = informative_binary(60_000, 1.0, seed=2)
    shards = np.array_split(np.arange(len(y)), 6)  # 10_000 rows each: exact on their own
    partials = [ClassificationMetrics(2).update(y[rows], p[rows], w[rows]) for rows in shards]
    assert all(partial._roc.exact for partial in partials)
    merged = tree_combine(partials, lambda a, b: a.merge(b))
    assert not merged._roc.exact
    whole = ClassificationMetrics(2).update(y, p, w).result()
    assert merged.result()["roc_auc"] == pytest.approx(whole["roc_auc"], abs=1e-12)
    assert merged.result()["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w),
                                                       abs=1e-5)
    assert merged._roc.error_bound()[0] < 1e-4


# -- regression -------------------------------------------------------------------------

@st.composite
def regression_data(draw):
    """Well-conditioned targets: continuous far from zero, or small integers with ties."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 80))
    if draw(st.booleans()):
        y = draw(st.floats(-1e6, 1e6)) + rng.normal(size=n) * draw(st.floats(1e-2, 1e3))
    else:
        y = rng.integers(-5, 6, n).astype(float)
    y_pred = y + rng.normal(size=n) * draw(st.sampled_from([0.0, 0.1, 10.0]))
    weights = rng.uniform(0.0, 3.0, n) if draw(st.booleans()) else None
    return y, y_pred, weights


def sklearn_regression(y, y_pred, weights):
    mse = skm.mean_squared_error(y, y_pred, sample_weight=weights)
    seen = y if weights is None else y[weights > 0]
    if seen.min() == seen.max():  # scikit-learn's rounding leaves a tiny nonzero denominator
        r2 = 1.0 if mse == 0 else 0.0
    else:
        r2 = skm.r2_score(y, y_pred, sample_weight=weights)
    return {"r2": r2, "rmse": np.sqrt(mse),
            "mae": skm.mean_absolute_error(y, y_pred, sample_weight=weights)}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), case=regression_data(), roundtrip=st.booleans())
def test_regression_matches_sklearn_whatever_the_split(data, case, roundtrip):
    y, y_pred, weights = case
    if weights is not None and not weights.sum() > 0:
        return
    parts = data.draw(split_rows(len(y)))
    result = accumulate(parts, RegressionMetrics, y, y_pred, weights, roundtrip=roundtrip).result()
    expected = sklearn_regression(y, y_pred, weights)
    assert result["n"] == len(y)
    scale = float(np.abs(y).max())
    for name in ("rmse", "mae"):
        np.testing.assert_allclose(result[name], expected[name], rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(result["r2"], expected["r2"], **EXACT)


def test_regression_is_stable_far_from_zero():
    rng = np.random.default_rng(0)
    y = 1e9 + rng.normal(size=10_000)
    y_pred = y + 0.5 * rng.normal(size=10_000)
    metrics = tree_combine([RegressionMetrics().update(y[rows], y_pred[rows])
                            for rows in np.array_split(np.arange(10_000), 33)],
                           lambda a, b: a.merge(b))
    assert metrics.result()["r2"] == pytest.approx(skm.r2_score(y, y_pred), abs=1e-9)


def test_constant_target_follows_sklearn_convention():
    assert RegressionMetrics().update([2.0, 2.0], [2.0, 2.0]).result()["r2"] == 1.0
    assert RegressionMetrics().update([2.0, 2.0], [2.0, 2.5]).result()["r2"] == 0.0


@pytest.mark.parametrize(("y", "y_pred", "match"), [
    ([1.0, np.nan], [1.0, 2.0], r"y_true holds 1 NaN.*row 1"),
    ([1.0, 2.0], [1.0, np.inf], r"y_pred holds 1 NaN"),
    ([1.0, 2.0], [1.0], r"y_pred has 1 rows but the batch has 2"),
    ([[1.0, 2.0]], [[1.0, 2.0]], r"one-dimensional"),
    (["a"], ["b"], r"numeric"),
])
def test_bad_regression_input_gets_a_clear_data_error(y, y_pred, match):
    with pytest.raises(DataError, match=match):
        RegressionMetrics().update(np.asarray(y), np.asarray(y_pred))


def test_regression_state_round_trip_is_exact():
    metrics = RegressionMetrics().update([1.0, 2.0, 4.0], [1.5, 2.0, 3.0], [1.0, 2.0, 0.5])
    copy = RegressionMetrics.from_state(metrics.to_state())
    assert_states_equal(copy.to_state(), metrics.to_state())
    assert copy.result() == metrics.result()
    assert RegressionMetrics().merge(RegressionMetrics()).n_rows == 0


@pytest.mark.parametrize("module", [metrics_package, _checks, _classification, _regression, _roc])
def test_docstring_examples(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
