"""Full-batch fitting: the map-reduce objective, L-BFGS and OWL-QN against scikit-learn."""

from __future__ import annotations

import inspect
import pickle
from itertools import pairwise

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

from bigfit.data.batch import Batch
from bigfit.engine import tree_combine
from bigfit.engine.local import LocalEngine
from bigfit.exceptions import EmptyDatasetError
from bigfit.models.linear._design import LinearDesign
from bigfit.models.linear._lbfgs import OptimizerState, minimize, pseudo_gradient
from bigfit.models.linear._loss import get_loss
from bigfit.models.linear._objective import Partial, RowSparse, ShardTask, combine, objective

LEVELS = (4, 3)


def with_categories(X: np.ndarray, y: np.ndarray, seed: int = 0):
    """Append two categorical columns that shift the target; return X, codes, one-hot, y."""
    rng = np.random.default_rng(seed)
    n = len(X)
    offsets = np.cumsum((0, *LEVELS[:-1]))
    codes = (rng.integers(0, LEVELS, (n, len(LEVELS))) + offsets).astype(np.int32)
    onehot = np.zeros((n, sum(LEVELS)))
    for j in range(len(LEVELS)):
        onehot[np.arange(n), codes[:, j]] = 1.0
    X32 = X.astype(np.float32)
    dense = np.hstack([X32.astype(np.float64), onehot])
    return X32, codes, dense


def split(X: np.ndarray, codes: np.ndarray, y: np.ndarray, parts: int = 3) -> list[Batch]:
    bounds = np.linspace(0, len(X), parts + 1).astype(int)
    return [Batch(X=X[a:b], codes=codes[a:b] if codes is not None else None, y=y[a:b])
            for a, b in pairwise(bounds)]


def fit(batches, design, loss, alpha, l1_ratio=0.0, **kwargs):
    obj = objective(None, batches, None, design, loss, alpha, l1_ratio)
    result = minimize(obj, np.zeros(design.n_params), l1=obj.l1, l1_mask=obj.l1_mask,
                      **{"tol": 1e-10, "max_iter": 2000, **kwargs})
    return design.unpack(result.x), result


def close(ours: np.ndarray, theirs: np.ndarray, rtol: float = 1e-4) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * np.max(np.abs(theirs)))


def close_params(coef, intercept, coef_ref, intercept_ref, rtol: float = 1e-4) -> None:
    """Equal to ``rtol`` of the largest parameter: with one-hot codes the intercept is small
    and weakly determined (its direction is nearly flat), so it is compared on that scale."""
    ours = np.concatenate([np.ravel(coef), np.ravel(intercept)])
    close(ours, np.concatenate([np.ravel(coef_ref), np.ravel(intercept_ref)]), rtol)


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(3000, 8, n_informative=5, random_state=0)
    X32, codes, dense = with_categories(X, y)
    y = np.where(codes[:, 0] == 1, 1 - y, y).astype(np.float64)  # make the codes matter
    return X32, codes, dense, y


def test_logistic_regression_matches_scikit_learn(binary) -> None:
    X, codes, dense, y = binary
    alpha, n = 1e-3, len(y)
    design = LinearDesign(X.shape[1], sum(LEVELS), 1)
    (coef, intercept), result = fit(split(X, codes, y), design, get_loss("log_loss"), alpha)
    reference = LogisticRegression(C=1 / (alpha * n), tol=1e-12, max_iter=10_000).fit(dense, y)
    assert result.converged
    close_params(coef[:, 0], intercept, reference.coef_[0], reference.intercept_)
    assert result.history[-1] == result.fun <= result.history[0]


def test_ridge_matches_scikit_learn() -> None:
    X, y = make_regression(2000, 10, noise=5.0, random_state=1)
    X32, codes, dense = with_categories(X, y, seed=1)
    alpha, n = 0.05, len(y)
    design = LinearDesign(10, sum(LEVELS), 1)
    (coef, intercept), _ = fit(split(X32, codes, y), design, get_loss("squared_error"), alpha)
    reference = Ridge(alpha=alpha * n, solver="cholesky").fit(dense, y)
    close_params(coef[:, 0], intercept, reference.coef_, reference.intercept_)


def test_multinomial_matches_scikit_learn() -> None:
    X, y = make_classification(3000, 8, n_informative=6, n_classes=4, n_clusters_per_class=1,
                               random_state=2)
    X32, codes, dense = with_categories(X, y, seed=2)
    alpha, n = 1e-3, len(y)
    design = LinearDesign(8, sum(LEVELS), 4)
    (coef, intercept), _ = fit(split(X32, codes, y), design, get_loss("multinomial"), alpha)
    reference = LogisticRegression(C=1 / (alpha * n), tol=1e-12, max_iter=10_000).fit(dense, y)
    close_params(coef.T, intercept - intercept.mean(), reference.coef_,
                 reference.intercept_ - reference.intercept_.mean())


def test_owlqn_matches_lasso_with_exact_zeros() -> None:
    X, y = make_regression(2000, 20, n_informative=6, noise=3.0, random_state=3)
    X = X.astype(np.float32)
    design = LinearDesign(20, 0, 1)
    (coef, intercept), _ = fit(split(X, None, y), design, get_loss("squared_error"), 1.0, 1.0)
    reference = Lasso(alpha=1.0, tol=1e-12, max_iter=100_000).fit(X.astype(np.float64), y)
    assert (coef[:, 0] == 0).sum() >= 10
    np.testing.assert_array_equal(coef[:, 0] == 0, reference.coef_ == 0)
    close(coef[:, 0], reference.coef_)
    close(intercept, [reference.intercept_])


def test_owlqn_matches_elastic_net() -> None:
    X, y = make_regression(2000, 20, n_informative=6, noise=3.0, random_state=4)
    X = X.astype(np.float32)
    design = LinearDesign(20, 0, 1)
    (coef, _), _ = fit(split(X, None, y), design, get_loss("squared_error"), 0.5, 0.7)
    reference = ElasticNet(alpha=0.5, l1_ratio=0.7, tol=1e-12, max_iter=100_000)
    reference.fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(coef[:, 0] == 0, reference.coef_ == 0)
    close(coef[:, 0], reference.coef_)


def l1_logistic(C: float) -> LogisticRegression:
    """scikit-learn's L1 logistic regression (``penalty`` is deprecated from 1.8 on)."""
    options = {"solver": "saga", "C": C, "tol": 1e-12, "max_iter": 100_000}
    if inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated":
        return LogisticRegression(l1_ratio=1.0, **options)
    return LogisticRegression(penalty="l1", **options)


def test_owlqn_matches_l1_logistic_regression(binary) -> None:
    X, codes, dense, y = binary
    alpha, n = 0.01, len(y)
    design = LinearDesign(X.shape[1], sum(LEVELS), 1)
    (coef, intercept), _ = fit(split(X, codes, y), design, get_loss("log_loss"), alpha, 1.0)
    reference = l1_logistic(C=1 / (alpha * n)).fit(dense, y)
    assert (coef == 0).sum() >= 3
    np.testing.assert_array_equal(coef[:, 0] == 0, reference.coef_[0] == 0)
    close_params(coef[:, 0], intercept, reference.coef_[0], reference.intercept_)


def test_engine_objective_equals_in_memory(binary) -> None:
    X, codes, _, y = binary
    design = LinearDesign(X.shape[1], sum(LEVELS), 1)
    loss = get_loss("log_loss")
    raw = split(X, codes, np.where(y > 0, "yes", "no"), parts=5)

    def prepare(batch: Batch) -> Batch:  # the lead's transformer: here, label encoding
        return batch.replace(y=(batch.y == "yes").astype(np.float64))

    params = np.random.default_rng(0).normal(size=design.n_params)
    memory = objective(None, raw, prepare, design, loss, 1e-3, 0.0)(params)
    with LocalEngine() as engine:
        inline = objective(engine, raw, prepare, design, loss, 1e-3, 0.0)(params)
    with LocalEngine(2) as engine:
        pooled = objective(engine, raw, prepare, design, loss, 1e-3, 0.0)(params)
    for other in (inline, pooled):
        assert other[0] == memory[0]
        np.testing.assert_array_equal(other[1], memory[1])
    whole = objective(None, [Batch.concat([prepare(b) for b in raw])], None, design, loss,
                      1e-3, 0.0)(params)
    assert whole[0] == pytest.approx(memory[0], rel=1e-12)
    np.testing.assert_allclose(whole[1], memory[1], rtol=1e-10, atol=1e-13)


def test_objective_gradient_equals_finite_differences(binary) -> None:
    X, codes, _, y = binary
    design = LinearDesign(X.shape[1], sum(LEVELS), 1)
    obj = objective(None, split(X[:300], codes[:300], y[:300]), None, design,
                    get_loss("log_loss"), 0.1, 0.5)
    x = np.random.default_rng(1).normal(size=design.n_params)
    _, grad = obj(x)
    h = 1e-6
    numeric = [(obj(x + h * e)[0] - obj(x - h * e)[0]) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)



def test_a_partial_crosses_processes_with_its_nonzero_gradient_rows_only() -> None:
    rng = np.random.default_rng(0)
    grad = np.zeros((2**18 + 5, 3))
    grad[:5] = rng.normal(size=(5, 3))  # the numeric rows
    grad[rng.choice(np.arange(5, len(grad)), 300, replace=False), 1] = rng.normal(size=300)
    partial = Partial(1.5, grad, np.arange(3.0), 7.0, 9)
    data = pickle.dumps(partial)
    assert len(data) < 20_000  # the dense gradient is 6 MB
    back = pickle.loads(data)
    assert isinstance(back.grad_coef, RowSparse) and len(back.grad_coef.rows) == 305
    np.testing.assert_array_equal(back.dense().grad_coef, grad)
    assert back.dense().grad_coef.dtype == grad.dtype
    np.testing.assert_array_equal(back.grad_intercept, partial.grad_intercept)
    assert (back.loss_sum, back.weight_sum, back.rows) == (1.5, 7.0, 9)
    assert pickle.loads(pickle.dumps(Partial(2.0, None, None, 3.0, 4))) == Partial(2.0, None, None, 3.0, 4)


def test_a_shard_task_sends_the_nonzero_rows_of_its_coefficients() -> None:
    design = LinearDesign(5, 2**18, 1)
    coef = np.zeros((design.n_features, 1))
    coef[:5, 0] = 1.0
    coef[[70, 9_000, 200_000], 0] = [0.5, -2.0, 3.0]
    task = ShardTask(coef, np.zeros(1), design, get_loss("log_loss"))
    data = pickle.dumps(task)
    assert len(data) < 10_000  # the dense table is 2 MB
    back = pickle.loads(data)
    np.testing.assert_array_equal(back.coef, coef)
    assert back.coef.dtype == coef.dtype and back.design == design
    dense = ShardTask(np.ones((10, 1)), np.zeros(1), LinearDesign(10, 0, 1), get_loss("log_loss"))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(dense)).coef, dense.coef)


def test_sparse_and_dense_partials_add_up_to_the_dense_sum() -> None:
    rng = np.random.default_rng(1)
    grads = []
    for _ in range(5):
        grad = np.zeros((1000, 2))
        grad[rng.choice(1000, 40, replace=False)] = rng.normal(size=(40, 2))
        grads.append(grad)
    partials = [Partial(1.0, g, np.ones(2), 2.0, 3) for g in grads]
    shipped = [pickle.loads(pickle.dumps(p)) for p in partials]
    mixed = [shipped[0], partials[1], shipped[2], shipped[3], partials[4]]
    for parts in (shipped, mixed):
        total = tree_combine(parts, combine).dense()
        np.testing.assert_array_equal(total.grad_coef, tree_combine(grads, np.add))
        np.testing.assert_array_equal(total.grad_intercept, np.full(2, 5.0))
        assert (total.loss_sum, total.weight_sum, total.rows) == (5.0, 10.0, 15)

@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_resume_from_state_equals_an_uninterrupted_run(binary, l1_ratio: float) -> None:
    X, codes, _, y = binary
    design = LinearDesign(X.shape[1], sum(LEVELS), 1)
    obj = objective(None, split(X, codes, y), None, design, get_loss("log_loss"), 0.01, l1_ratio)
    options = {"l1": obj.l1, "l1_mask": obj.l1_mask, "tol": 1e-12, "ftol": 0.0, "history": 5}
    full = minimize(obj, np.zeros(design.n_params), max_iter=25, **options)
    assert full.n_iter > 15
    saved: list[OptimizerState] = []
    minimize(obj, np.zeros(design.n_params), max_iter=25,
             callback=lambda state: saved.append(state) or state.n_iter == 12, **options)
    # A state handed to the callback stays as it was while the run goes on.
    assert saved[8].n_iter == 9
    state = OptimizerState.from_dict(saved[8].to_dict())  # as if read from a checkpoint
    resumed = minimize(obj, np.full(design.n_params, 7.0), max_iter=25, state=state, **options)
    assert resumed.n_iter == full.n_iter
    np.testing.assert_array_equal(resumed.x, full.x)
    assert resumed.history == full.history
    np.testing.assert_array_equal(resumed.state.s, full.state.s)


def test_minimize_a_quadratic_and_its_stopping_rules() -> None:
    scale = np.array([1.0, 10.0, 100.0])

    def quadratic(x: np.ndarray) -> tuple[float, np.ndarray]:
        return 0.5 * float(np.sum(scale * (x - 1.0) ** 2)), scale * (x - 1.0)

    result = minimize(quadratic, np.zeros(3), tol=1e-9)
    assert result.converged and "tol" in result.message
    np.testing.assert_allclose(result.x, 1.0, atol=1e-9)
    assert not minimize(quadratic, np.zeros(3), max_iter=1).converged
    # l1 = 20 pins the first coordinate (slope 1 at 0) at zero, spares the masked-out third
    result = minimize(quadratic, np.zeros(3), l1=20.0, l1_mask=np.array([True, True, False]),
                      tol=1e-9)
    np.testing.assert_allclose(result.x, [0.0, 0.0, 1.0], atol=1e-9)
    assert result.x[0] == 0.0 and result.x[1] == 0.0


def chain(x: np.ndarray) -> tuple[float, np.ndarray]:
    """0.5 (x0 - 1)^2 + 0.5 (x1 - x0)^2: x1's gradient is exactly 0 at the start, yet its
    optimum is 1; x2 and x3 never get a gradient (like hash buckets that no row reaches)."""
    g = np.zeros_like(x)
    g[0] = (x[0] - 1.0) - (x[1] - x[0])
    g[1] = x[1] - x[0]
    return 0.5 * (x[0] - 1.0) ** 2 + 0.5 * (x[1] - x[0]) ** 2, g


def test_the_solver_works_on_the_coordinates_the_gradient_reaches() -> None:
    result = minimize(chain, np.zeros(4), tol=1e-10, history=3)
    np.testing.assert_allclose(result.x, [1.0, 1.0, 0.0, 0.0], atol=1e-9)
    assert result.x[2] == result.x[3] == 0.0
    np.testing.assert_array_equal(result.state.support, [0, 1])  # x1 joined after the start
    assert all(len(v) == 2 for v in (*result.state.s, *result.state.y))
    # A start away from zero puts its non-zero coordinates on the support.
    moved = minimize(chain, np.array([0.0, 0.0, 0.0, 3.0]), tol=1e-10)
    np.testing.assert_allclose(moved.x, [1.0, 1.0, 0.0, 3.0], atol=1e-9)


def test_a_checkpoint_of_full_length_pairs_still_resumes() -> None:
    """States saved before the solver kept a support store (s, y) at full length."""
    saved: list[OptimizerState] = []
    minimize(chain, np.zeros(4), max_iter=3, history=3, callback=saved.append)
    old = saved[1].to_dict()
    full = np.zeros((len(old["s"]), 4))
    full[:, old["support"]] = old["s"]
    old["s"], old["y"] = full, np.zeros_like(full)
    old["y"][:, old["support"]] = saved[1].to_dict()["y"]
    del old["support"]
    resumed = minimize(chain, np.zeros(4), tol=1e-10, state=OptimizerState.from_dict(old))
    np.testing.assert_allclose(resumed.x, [1.0, 1.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_array_equal(resumed.state.support, [0, 1])


def test_pseudo_gradient() -> None:
    x = np.array([1.0, -1.0, 0.0, 0.0, 0.0, 0.0])
    g = np.array([0.5, 0.5, 0.5, -2.0, 2.0, 0.5])
    mask = np.array([True] * 5 + [False])
    np.testing.assert_allclose(pseudo_gradient(x, g, 1.0, mask), [1.5, -0.5, 0.0, -1.0, 1.0, 0.5])


def test_empty_training_data_is_refused() -> None:
    design = LinearDesign(2, 0, 1)
    empty = Batch(X=np.zeros((0, 2), np.float32), y=np.zeros(0))
    obj = objective(None, [empty], None, design, get_loss("log_loss"), 0.1)
    with pytest.raises(EmptyDatasetError, match="no rows"):
        obj(np.zeros(design.n_params))
