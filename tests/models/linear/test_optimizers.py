"""Mini-batch optimizers: convergence, exact zeros, lazy code rows, schedules, resume."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier

from bigfit.data.batch import Batch
from bigfit.exceptions import InvalidParameterError
from bigfit.models.linear._design import LinearDesign, SparseGradient
from bigfit.models.linear._lbfgs import minimize
from bigfit.models.linear._loss import get_loss
from bigfit.models.linear._objective import batch_gradient, batch_terms, objective
from bigfit.models.linear._optimizers import SGD, AdaGrad, Adam, train_batch

LOSS = get_loss("log_loss")


def train(optimizer, design: LinearDesign, data: Batch, *, epochs: int, batch_size: int,
          seed: int = 0, coef=None, intercept=None):
    """Shuffled mini-batch epochs; returns (coef, intercept) after flushing lazy penalties."""
    if coef is None:
        coef, intercept = design.zeros()
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(data))
        for start in range(0, len(data), batch_size):
            batch = data.take(order[start:start + batch_size])
            train_batch(optimizer, batch, design, LOSS, coef, intercept)
    optimizer.flush(coef)
    return coef, intercept


def mean_loss(design: LinearDesign, data: Batch, coef, intercept) -> float:
    part = batch_terms(data, design, LOSS, coef, intercept, with_gradient=False)
    return part.loss_sum / part.weight_sum


def optimum(design: LinearDesign, data: Batch, alpha: float, l1_ratio: float = 0.0):
    obj = objective(None, [data], None, design, LOSS, alpha, l1_ratio)
    result = minimize(obj, np.zeros(design.n_params), l1=obj.l1, l1_mask=obj.l1_mask,
                      tol=1e-9, max_iter=1000)
    return design.unpack(result.x)


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(5000, 20, n_informative=10, random_state=0)
    X, y = X.astype(np.float32), y.astype(np.float64)
    fit, holdout = Batch(X=X[:4000], y=y[:4000]), Batch(X=X[4000:], y=y[4000:])
    design = LinearDesign(20, 0, 1)
    best = mean_loss(design, holdout, *optimum(design, fit, 1e-3))
    return design, fit, holdout, best


@pytest.mark.parametrize("make", [
    lambda: SGD("optimal", alpha=1e-3, loss=LOSS),
    lambda: SGD("invscaling", eta0=2.0, power_t=0.25, alpha=1e-3),
    lambda: AdaGrad(0.1, alpha=1e-3),
    lambda: Adam(0.01, alpha=1e-3),
], ids=["sgd-optimal", "sgd-invscaling", "adagrad", "adam"])
def test_reaches_the_optimum_holdout_loss(problem, make) -> None:
    design, fit, holdout, best = problem
    coef, intercept = train(make(), design, fit, epochs=5, batch_size=100)
    assert mean_loss(design, holdout, coef, intercept) <= 1.01 * best


@pytest.mark.parametrize("make", [
    lambda: SGD("invscaling", eta0=1.0, power_t=0.25, alpha=0.05, l1_ratio=1.0),
    lambda: AdaGrad(0.1, alpha=0.05, l1_ratio=1.0),
    lambda: Adam(0.01, alpha=0.05, l1_ratio=1.0),
], ids=["sgd", "adagrad", "adam"])
def test_l1_gives_exact_zeros(problem, make) -> None:
    design, fit, _, _ = problem
    coef, _ = train(make(), design, fit, epochs=5, batch_size=100)
    reference, _ = optimum(design, fit, 0.05, 1.0)
    assert (reference == 0).sum() >= 5
    assert (coef == 0).sum() >= 0.6 * (reference == 0).sum()
    large = np.abs(reference) > 0.1
    assert np.all(coef[large] != 0)
    assert np.all(np.sign(coef[large]) == np.sign(reference[large]))


def categorical_data(n: int = 600, seed: int = 0) -> tuple[LinearDesign, Batch]:
    rng = np.random.default_rng(seed)
    levels = (30, 8)
    codes = (rng.integers(0, levels, (n, 2)) + np.array([0, levels[0]])).astype(np.int32)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    effects = rng.normal(0, 1, sum(levels))
    logit = X @ np.array([1.0, -0.5, 0.2]) + effects[codes].sum(axis=1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    return LinearDesign(3, sum(levels), 1), Batch(X=X, codes=codes, y=y)


OPTIMIZERS = {
    "sgd": lambda: SGD("optimal", alpha=0.01, l1_ratio=0.5, loss=LOSS),
    "adaptive": lambda: SGD("adaptive", eta0=0.3, alpha=0.01, l1_ratio=0.5),
    "adagrad": lambda: AdaGrad(0.2, alpha=0.01, l1_ratio=0.5),
    "adam": lambda: Adam(0.02, alpha=0.01, l1_ratio=0.5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_round_trip_continues_identically(name: str) -> None:
    design, data = categorical_data()
    straight = OPTIMIZERS[name]()
    expected = train(straight, design, data, epochs=2, batch_size=32, seed=0)

    first = OPTIMIZERS[name]()
    coef, intercept = design.zeros()
    coef, intercept = _epoch(first, design, data, coef, intercept, seed=0, epochs=1)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v)
             for k, v in first.state_dict().items()}
    assert all(isinstance(v, np.ndarray | int | float | str) for v in state.values())
    resumed = OPTIMIZERS[name]()
    resumed.load_state_dict(state)
    assert resumed.step_count == first.step_count > 0
    coef, intercept = _epoch(resumed, design, data, coef, intercept, seed=0, epochs=2, skip=1)
    resumed.flush(coef)
    np.testing.assert_array_equal(coef, expected[0])
    np.testing.assert_array_equal(intercept, expected[1])


def _epoch(optimizer, design, data, coef, intercept, *, seed, epochs, skip=0):
    """Run epochs ``skip..epochs-1`` of the same shuffled schedule as :func:`train`."""
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(data))
        if epoch < skip:
            continue
        for start in range(0, len(data), 32):
            train_batch(optimizer, data.take(order[start:start + 32]), design, LOSS, coef,
                        intercept)
    return coef, intercept


def test_flushed_states_average_without_debt() -> None:
    design, data = categorical_data()
    states, results = [], []
    for seed in (0, 1):  # two workers of parameter mixing
        optimizer = OPTIMIZERS["adagrad"]()
        results.append(train(optimizer, design, data, epochs=1, batch_size=32, seed=seed))
        states.append(optimizer.state_dict())
    for key in ("seen", "owed_steps"):
        assert not states[0][key].any()
    assert states[0]["elapsed"] == 0.0
    mixed = {k: (0.5 * (v + states[1][k]) if isinstance(v, np.ndarray) else v)
             for k, v in states[0].items()}
    optimizer = OPTIMIZERS["adagrad"]()
    optimizer.load_state_dict(mixed)
    coef = 0.5 * (results[0][0] + results[1][0])
    before = coef.copy()
    optimizer.refresh(coef, np.arange(design.n_codes))
    np.testing.assert_array_equal(coef, before)


def dense_gradient(grad: SparseGradient, n_codes: int) -> SparseGradient:
    """The same gradient naming every code row (zeros for the absent ones)."""
    codes = np.zeros((n_codes, grad.codes.shape[1]))
    codes[grad.index] = grad.codes
    return SparseGradient(grad.dense, np.arange(n_codes), codes, grad.intercept, grad.n_rows)


@pytest.mark.parametrize("make, rtol", [
    (lambda: SGD("invscaling", eta0=0.5, alpha=0.05, l1_ratio=1.0), 1e-9),
    (lambda: SGD("constant", eta0=0.5, alpha=0.05, l1_ratio=0.4), 1e-9),
    (lambda: AdaGrad(0.3, alpha=0.05, l1_ratio=1.0), 1e-9),
    (lambda: AdaGrad(0.3, alpha=0.05, l1_ratio=0.4), 1e-9),
    (lambda: SGD("constant", eta0=0.5, alpha=0.05), 1e-9),
    (lambda: AdaGrad(0.3, alpha=0.05), 1e-9),
    (lambda: SGD("invscaling", eta0=0.5, alpha=0.05, l1_ratio=0.4), 1e-3),
], ids=["sgd-l1", "sgd-constant-elastic", "adagrad-l1", "adagrad-elastic", "sgd-constant-l2",
        "adagrad-l2", "sgd-invscaling-elastic"])
def test_lazy_code_rows_equal_dense_updates(make, rtol: float) -> None:
    design, data = categorical_data(n=400, seed=1)
    lazy, dense = make(), make()
    coef_lazy, b_lazy = design.zeros()
    coef_dense, b_dense = design.zeros()
    for start in range(0, len(data), 8):  # small batches: most code rows are missed each step
        batch = data.take(slice(start, start + 8))
        train_batch(lazy, batch, design, LOSS, coef_lazy, b_lazy)
        _, _, grad = batch_gradient(batch, design, LOSS, coef_dense, b_dense)
        dense.step(coef_dense, b_dense, dense_gradient(grad, design.n_codes))
    lazy.flush(coef_lazy)
    assert (coef_dense == 0).sum() >= 3 or not lazy.l1  # L1 makes exact zeros
    np.testing.assert_allclose(coef_lazy, coef_dense, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(b_lazy, b_dense, rtol=rtol)
    if rtol < 1e-6:  # exact: the same zeros
        np.testing.assert_array_equal(coef_lazy == 0, coef_dense == 0)


@pytest.mark.parametrize("schedule, options", [
    ("constant", {"eta0": 0.05}),
    ("invscaling", {"eta0": 0.5, "power_t": 0.3}),
    ("optimal", {"alpha": 0.01}),
])
def test_one_row_batches_follow_scikit_learn(schedule: str, options: dict) -> None:
    X, y = make_classification(300, 5, random_state=3)
    X = X.astype(np.float32)
    reference = SGDClassifier(loss="log_loss", penalty=None, learning_rate=schedule,
                              max_iter=1, shuffle=False, tol=None,
                              **{"eta0": 0.01, **options})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: a ConvergenceWarning
        reference.fit(X.astype(np.float64), y)
    alpha = options.pop("alpha", None)
    optimizer = SGD(schedule, alpha=0.0, schedule_alpha=alpha, loss=LOSS, **options)
    design = LinearDesign(5, 0, 1)
    coef, intercept = design.zeros()
    data = Batch(X=X, y=y.astype(np.float64))
    for i in range(len(X)):
        _, _, grad = batch_gradient(data.take(slice(i, i + 1)), design, LOSS, coef, intercept)
        optimizer.step(coef, intercept, grad)
    np.testing.assert_allclose(coef[:, 0], reference.coef_[0], rtol=1e-9)
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-9)


def test_schedules_and_parameters() -> None:
    sgd = SGD("optimal", alpha=1e-4, loss=LOSS)
    assert sgd.learning_rate_at(1) == pytest.approx(np.sqrt(1 / np.sqrt(1e-4)))  # typw
    adaptive = SGD("adaptive", eta0=0.5)
    assert adaptive.reduce_learning_rate() == pytest.approx(0.1)
    assert adaptive.learning_rate_at(7) == adaptive.current_learning_rate == pytest.approx(0.1)
    with pytest.raises(InvalidParameterError, match="adaptive"):
        sgd.reduce_learning_rate()
    with pytest.raises(InvalidParameterError, match="needs alpha"):
        SGD("optimal", alpha=0.0, loss=LOSS)
    with pytest.raises(InvalidParameterError, match="'l1_ratio' parameter of Adam"):
        Adam(l1_ratio=2.0)
    with pytest.raises(InvalidParameterError, match="'learning_rate' parameter of SGD"):
        SGD("fast")
    with pytest.raises(InvalidParameterError, match="not of a AdaGrad"):
        AdaGrad().load_state_dict(Adam().state_dict())


def test_multinomial_reaches_the_optimum() -> None:
    X, y = make_classification(3000, 6, n_informative=4, n_classes=3, n_clusters_per_class=1,
                               class_sep=0.7, random_state=4)
    data = Batch(X=X.astype(np.float32), y=y)
    design = LinearDesign(6, 0, 3)
    loss = get_loss("multinomial")
    obj = objective(None, [data], None, design, loss, 1e-3)
    best = minimize(obj, np.zeros(design.n_params), tol=1e-9).fun
    coef, intercept = design.zeros()
    optimizer = AdaGrad(0.3, alpha=1e-3)
    for epoch in range(5):
        order = np.random.default_rng(epoch).permutation(len(data))
        for start in range(0, len(data), 100):
            batch = data.take(order[start:start + 100])
            train_batch(optimizer, batch, design, loss, coef, intercept)
    assert obj(design.pack(coef, intercept))[0] <= 1.01 * best


def test_sgd_batch_steps_scale_the_per_sample_rate_up_to_max_step() -> None:
    design = LinearDesign(2, 0, 1)
    X = np.ones((100, 2), dtype=np.float32)
    batch = Batch(X=X, y=np.ones(100), w=np.ones(100))
    for max_step, expected in ((None, 0.01), (0.5, 0.5), (5.0, 1.0)):
        optimizer = SGD("constant", eta0=0.01, alpha=0.0, max_step=max_step)
        coef, intercept = design.zeros()
        train_batch(optimizer, batch, design, LOSS, coef, intercept)
        # the mean log-loss gradient at zero is -0.5 for every coordinate
        np.testing.assert_allclose(intercept, [0.5 * expected])
        np.testing.assert_allclose(coef[:, 0], [0.5 * expected] * 2)
