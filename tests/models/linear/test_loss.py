"""Per-row mathematics of linear models: the losses and the linear design."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bigfit.exceptions import DataError, InvalidParameterError
from bigfit.models.linear._design import LinearDesign
from bigfit.models.linear._loss import LOSSES, get_loss

BINARY = ["log_loss", "hinge", "squared_error", "huber"]


def scores_and_targets(name: str, rng: np.random.Generator, n: int = 30):
    """Scores away from the kinks of hinge and huber, and targets the loss expects."""
    if name == "multinomial":
        return rng.normal(0, 3, (n, 4)), rng.integers(0, 4, n)
    binary = name in ("log_loss", "hinge")
    y = rng.integers(0, 2, n).astype(float) if binary else rng.normal(0, 2, n)
    z = rng.normal(0, 3, n)
    if name == "hinge":  # keep the margin off 1
        margin = (2 * y - 1) * z
        z = np.where(np.abs(margin - 1) < 0.1, z + 0.5 * (2 * y - 1), z)
    if name == "huber":  # keep |z - y| off epsilon
        r = z - y
        z = np.where(np.abs(np.abs(r) - 1.0) < 0.1, z + 0.5 * np.sign(r), z)
    return z, y


def make(name: str):
    return get_loss(name, epsilon=1.0) if name == "huber" else get_loss(name)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_equals_central_differences(name: str) -> None:
    rng = np.random.default_rng(0)
    z, y = scores_and_targets(name, rng)
    w = rng.uniform(0.5, 2.0, len(z))
    loss = make(name)
    _, grad = loss.loss_and_gradient(z, y, w)
    assert grad.shape == z.shape
    h = 1e-6
    numeric = np.empty_like(z)
    for index in np.ndindex(*z.shape):
        plus, minus = z.copy(), z.copy()
        plus[index] += h
        minus[index] -= h
        numeric[index] = (loss.loss_and_gradient(plus, y, w)[0]
                          - loss.loss_and_gradient(minus, y, w)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weights_multiply_each_row(name: str) -> None:
    rng = np.random.default_rng(1)
    z, y = scores_and_targets(name, rng)
    w = rng.uniform(0.0, 3.0, len(z))
    loss = make(name)
    total, grad = loss.loss_and_gradient(z, y, w)
    rows = [loss.loss_and_gradient(z[i:i + 1], y[i:i + 1])[0] for i in range(len(z))]
    assert total == pytest.approx(np.dot(rows, w), rel=1e-12)
    _, plain = loss.loss_and_gradient(z, y)
    np.testing.assert_allclose(grad, plain * (w[:, None] if z.ndim == 2 else w), rtol=1e-12)


def test_column_scores_keep_their_shape() -> None:
    z, y = np.array([[0.5], [-1.0]]), np.array([1.0, 0.0])
    total, grad = get_loss("log_loss").loss_and_gradient(z, y)
    assert grad.shape == (2, 1)
    assert total == pytest.approx(get_loss("log_loss").loss_and_gradient(z[:, 0], y)[0])


@settings(max_examples=200, deadline=None)
@given(z=st.floats(-1e3, 1e3), positive=st.booleans())
def test_log_loss_is_exact_for_large_scores(z: float, positive: bool) -> None:
    y = float(positive)
    total, grad = get_loss("log_loss").loss_and_gradient(np.array([z]), np.array([y]))
    margin = z if positive else -z  # loss = log(1 + exp(-margin))
    expected = np.log1p(np.exp(-margin)) if margin > -30 else -margin + np.log1p(np.exp(margin))
    assert total == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert -1.0 <= grad[0] <= 1.0
    proba = get_loss("log_loss").predict_proba(np.array([z]))
    assert proba.sum() == pytest.approx(1.0)
    assert proba[0, 1] == pytest.approx(np.exp(-np.logaddexp(0.0, -z)), rel=1e-12, abs=1e-300)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3), st.integers(0, 2))
def test_multinomial_is_stable_for_large_scores(row: list[float], label: int) -> None:
    z = np.array([row])
    loss = get_loss("multinomial")
    total, grad = loss.loss_and_gradient(z, np.array([label]))
    assert np.isfinite(total) and total >= 0
    assert total >= max(row) - row[label] - 1e-9  # logsumexp >= max
    assert grad.sum() == pytest.approx(0.0, abs=1e-12)
    assert loss.predict_proba(z).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_extreme_scores_give_finite_values(name: str) -> None:
    z = np.array([-1e3, -50.0, 0.0, 50.0, 1e3])
    if name == "multinomial":
        z, y = np.column_stack([z, -z, np.zeros(5)]), np.array([0, 1, 2, 0, 1])
    else:
        y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    total, grad = make(name).loss_and_gradient(z, y)
    assert np.isfinite(total) and np.all(np.isfinite(grad))


def test_known_values() -> None:
    z, y = np.array([2.0, -0.5]), np.array([1.0, 1.0])
    assert get_loss("hinge").loss_and_gradient(z, y)[0] == pytest.approx(1.5)
    assert get_loss("squared_error").loss_and_gradient(z, np.zeros(2))[0] == pytest.approx(2.125)
    huber = get_loss("huber", epsilon=1.0).loss_and_gradient(z, np.zeros(2))
    assert huber[0] == pytest.approx(1.5 + 0.125)
    np.testing.assert_allclose(huber[1], [1.0, -0.5])


def test_registry_names_the_losses() -> None:
    with pytest.raises(InvalidParameterError, match=r"'hinge', 'huber', 'log_loss'"):
        get_loss("logistic")
    with pytest.raises(InvalidParameterError, match="epsilon"):
        get_loss("huber", epsilon=-1.0)
    with pytest.raises(InvalidParameterError, match="does not take"):
        get_loss("hinge", epsilon=1.0)
    with pytest.raises(NotImplementedError, match="no probabilities"):
        get_loss("hinge").predict_proba(np.zeros(2))


# -- the linear design -------------------------------------------------------------------


def design_data(n: int = 200, d: int = 4, levels: tuple[int, ...] = (3, 5), k: int = 2,
                seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    offsets = np.cumsum((0, *levels[:-1]))
    codes = (rng.integers(0, levels, (n, len(levels))) + offsets).astype(np.int32)
    design = LinearDesign(d, sum(levels), k)
    coef = rng.normal(size=(design.n_features, k))
    intercept = rng.normal(size=k)
    onehot = np.zeros((n, sum(levels)))
    for j in range(len(levels)):
        onehot[np.arange(n), codes[:, j]] = 1.0
    dense = np.hstack([X.astype(np.float64), onehot])
    return design, X, codes, coef, intercept, dense


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("n", [200, 5])  # more rows than codes, fewer
def test_design_equals_a_one_hot_matrix(k: int, n: int) -> None:
    design, X, codes, coef, intercept, dense = design_data(n=n, k=k)
    z = design.scores(coef, intercept, X, codes)
    np.testing.assert_allclose(z, dense @ coef + intercept, rtol=1e-12)
    dz = np.random.default_rng(1).normal(size=z.shape)
    grad_coef, grad_intercept = design.gradient(X, codes, dz)
    np.testing.assert_allclose(grad_coef, dense.T @ dz, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_intercept, dz.sum(axis=0), rtol=1e-12)
    sparse = design.sparse_gradient(X, codes, dz)
    np.testing.assert_array_equal(np.sort(sparse.index), np.unique(codes))  # in no set order
    np.testing.assert_allclose(sparse.codes, grad_coef[design.n_numeric + sparse.index],
                               rtol=1e-12)
    np.testing.assert_allclose(sparse.dense, grad_coef[: design.n_numeric], rtol=1e-12)


def test_design_without_codes_and_flat_parameters() -> None:
    design, X, _, coef, intercept, _ = design_data(levels=(3,), k=2)
    plain = LinearDesign(4, 0, 2)
    z = plain.scores(coef[:4], intercept, X, None)
    np.testing.assert_allclose(z, X @ coef[:4] + intercept)
    grad, _ = plain.gradient(X, None, z)
    assert grad.shape == (4, 2)
    flat = design.pack(coef, intercept)
    assert flat.shape == (design.n_params,)
    back_coef, back_intercept = design.unpack(flat)
    np.testing.assert_array_equal(back_coef, coef)
    np.testing.assert_array_equal(back_intercept, intercept)
    assert design.penalty_mask().sum() == coef.size
    with pytest.raises(DataError, match="4 numeric features"):
        design.scores(coef, intercept, X[:, :3], None)
