"""FTRL-Proximal on hashed categorical codes and dense features."""

from __future__ import annotations

import numpy as np
import pytest

from bigfit.data.batch import Batch
from bigfit.data.transforms._encoders import HashEncoder
from bigfit.exceptions import InvalidParameterError
from bigfit.models.linear._design import LinearDesign, SparseGradient
from bigfit.models.linear._ftrl import FTRL
from bigfit.models.linear._lbfgs import minimize
from bigfit.models.linear._loss import get_loss
from bigfit.models.linear._objective import batch_terms, objective
from bigfit.models.linear._optimizers import train_batch

LOSS = get_loss("log_loss")
N_TRAIN = 6000


@pytest.fixture(scope="module")
def hashed():
    """Dense features plus three categorical columns (200, 50, 10 values) hashed to 64 buckets."""
    rng = np.random.default_rng(0)
    n, d, levels = 8000, 5, np.array([200, 50, 10])
    X = rng.normal(size=(n, d)).astype(np.float32)
    values = rng.integers(0, levels, (n, 3))
    effects = [rng.normal(0, 0.7, k) for k in levels]
    logit = (X @ rng.normal(0, 0.7, d) - 0.3
             + sum(effect[values[:, j]] for j, effect in enumerate(effects)))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    encoder = HashEncoder(n_columns=3, n_buckets=64, seed=0)
    codes = encoder.encode((values + 1).astype(np.uint64))  # hash 0 means missing
    design = LinearDesign(d, encoder.n_codes, 1)
    train = Batch(X=X[:N_TRAIN], codes=codes[:N_TRAIN], y=y[:N_TRAIN])
    holdout = Batch(X=X[N_TRAIN:], codes=codes[N_TRAIN:], y=y[N_TRAIN:])
    return design, train, holdout


def holdout_loss(design, holdout, coef, intercept) -> float:
    part = batch_terms(holdout, design, LOSS, coef, intercept, with_gradient=False)
    return part.loss_sum / part.weight_sum


def run(ftrl: FTRL, design: LinearDesign, data: Batch, epochs: int, batch_size: int = 32,
        coef=None, intercept=None, first_epoch: int = 0):
    if coef is None:
        coef, intercept = design.zeros()
    for epoch in range(first_epoch, epochs):
        order = np.random.default_rng(epoch).permutation(len(data))
        for start in range(0, len(data), batch_size):
            train_batch(ftrl, data.take(order[start:start + batch_size]), design, LOSS, coef,
                        intercept)
    return coef, intercept


def test_reaches_the_optimum_holdout_loss(hashed) -> None:
    design, train, holdout = hashed
    obj = objective(None, [train], None, design, LOSS, 1e-3)
    best = holdout_loss(design, holdout, *design.unpack(
        minimize(obj, np.zeros(design.n_params), tol=1e-8, max_iter=1000).x))
    coef, intercept = run(FTRL(alpha=1.0, beta=1.0, l1=0.0, l2=0.0), design, train, epochs=5)
    assert holdout_loss(design, holdout, coef, intercept) <= 1.01 * best


def test_l1_gives_exact_zeros_and_coef_follows_the_state(hashed) -> None:
    design, train, holdout = hashed
    ftrl = FTRL(alpha=1.0, beta=1.0, l1=0.5, l2=1.0)
    coef, intercept = run(ftrl, design, train, epochs=2)
    zeros = coef[design.n_numeric:] == 0
    assert zeros.sum() >= 20  # buckets no value hashed to, and weak ones
    assert np.all(coef[: design.n_numeric] != 0)
    weights, bias = ftrl.weights()
    np.testing.assert_array_equal(weights, coef)
    np.testing.assert_array_equal(bias, intercept)
    dense_only = holdout_loss(design, holdout, np.where(np.arange(len(coef))[:, None]
                                                        < design.n_numeric, coef, 0.0), intercept)
    assert holdout_loss(design, holdout, coef, intercept) < dense_only  # the codes help


def test_state_round_trip_continues_identically(hashed) -> None:
    design, train, _ = hashed
    data = train.take(slice(0, 2000))
    expected = run(FTRL(alpha=0.5, l1=0.1, l2=0.1), design, data, epochs=2)
    first = FTRL(alpha=0.5, l1=0.1, l2=0.1)
    coef, intercept = run(first, design, data, epochs=1)
    resumed = FTRL(alpha=0.5, l1=0.1, l2=0.1)
    resumed.load_state_dict({k: (v.copy() if isinstance(v, np.ndarray) else v)
                             for k, v in first.state_dict().items()})
    assert resumed.step_count == first.step_count
    coef, intercept = run(resumed, design, data, epochs=2, coef=coef, intercept=intercept,
                          first_epoch=1)
    np.testing.assert_array_equal(coef, expected[0])
    np.testing.assert_array_equal(intercept, expected[1])


def test_one_coordinate_by_hand() -> None:
    ftrl = FTRL(alpha=0.5, beta=1.0, l1=0.2, l2=0.5)
    coef, intercept = np.zeros((1, 1)), np.zeros(1)
    z = n = 0.0
    for g in (1.0, -0.5, 2.0):
        w = coef[0, 0]
        sigma = (np.sqrt(n + g * g) - np.sqrt(n)) / 0.5
        z, n = z + g - sigma * w, n + g * g
        shrunk = np.sign(z) * max(abs(z) - 0.2, 0.0)
        expected = -shrunk / ((1 + np.sqrt(n)) / 0.5 + 0.5)
        grad = SparseGradient(np.array([[g]]), np.zeros(0, dtype=np.intp), np.zeros((0, 1)),
                              np.array([g]))
        ftrl.step(coef, intercept, grad)
        assert coef[0, 0] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert intercept[0] != 0  # the intercept has no l1


def test_parameters_are_checked() -> None:
    with pytest.raises(InvalidParameterError, match="'beta' parameter of FTRL"):
        FTRL(beta=0.0)
    with pytest.raises(ValueError, match="no state yet"):
        FTRL().weights()
