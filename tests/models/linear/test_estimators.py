"""The linear estimators against scikit-learn's in-memory solvers, on every path in."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import Lasso, Ridge
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.metrics import log_loss

import bigfit
from bigfit import Dataset, LinearRegression, LogisticRegression, SGDClassifier, SGDRegressor
from bigfit.data.cache import _entry
from bigfit.exceptions import DataError, InvalidParameterError, NotFittedError, SchemaError
from bigfit.models.linear._target import encode_labels

ALPHA = 1e-3


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=4_000, n_features=8, n_informative=5, flip_y=0.05,
                               random_state=0)
    return X, y


@pytest.fixture(scope="module")
def binary_parquet(tmp_path_factory, binary) -> str:
    X, y = binary
    path = tmp_path_factory.mktemp("binary") / "d.parquet"
    pq.write_table(pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y}), path,
                   row_group_size=250)
    return str(path)


def exact_logistic(**params) -> LogisticRegression:
    return LogisticRegression(alpha=ALPHA, standardize=False, tol=1e-10, max_iter=500, **params)


def test_lbfgs_equals_scikit_learn_binary(binary) -> None:
    X, y = binary
    ours = exact_logistic().fit(X, y)
    theirs = SkLogistic(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    assert ours.classes_.tolist() == [0, 1] and ours.coef_.shape == (1, 8)
    assert (ours.predict(X) == theirs.predict(X)).mean() > 0.999


def test_lbfgs_equals_scikit_learn_multinomial() -> None:
    X, y = make_classification(n_samples=3_000, n_features=8, n_informative=5, n_classes=3,
                               random_state=1)
    labels = np.array(["ant", "bee", "cat"])[y]
    ours = exact_logistic().fit(X, labels)
    theirs = SkLogistic(C=1 / (ALPHA * len(y)), tol=1e-12, max_iter=10_000).fit(X, labels)
    assert ours.classes_.tolist() == ["ant", "bee", "cat"] and ours.coef_.shape == (3, 8)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_ridge_and_lasso_equal_scikit_learn() -> None:
    X, y = make_regression(n_samples=3_000, n_features=10, n_informative=4, noise=1.0, random_state=0)
    ridge = LinearRegression(alpha=ALPHA, standardize=False, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(ridge.coef_, Ridge(alpha=ALPHA * len(y)).fit(X, y).coef_, atol=1e-6)
    lasso = LinearRegression(alpha=0.5, l1_ratio=1.0, standardize=False, tol=1e-12,
                             max_iter=1_000).fit(X, y)
    reference = Lasso(alpha=0.5, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(lasso.coef_, reference.coef_, atol=1e-5)
    np.testing.assert_array_equal(lasso.coef_ == 0, reference.coef_ == 0)
    assert lasso.score(X, y) > 0.99


def test_fit_on_dataset_equals_fit_on_arrays(binary, binary_parquet) -> None:
    X, y = binary
    from_file = LogisticRegression(tol=1e-10).fit(Dataset(binary_parquet, target="y"))
    from_arrays = LogisticRegression(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(from_file.coef_, from_arrays.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(from_file.predict_proba(Dataset(binary_parquet)),
                               from_arrays.predict_proba(X), atol=1e-12)


def test_process_pool_equals_in_process(binary_parquet) -> None:
    ds = Dataset(binary_parquet, target="y")
    local = LogisticRegression(tol=1e-10).fit(ds)
    pooled = LogisticRegression(tol=1e-10, engine="local[2]").fit(ds)
    np.testing.assert_allclose(pooled.coef_, local.coef_, atol=1e-6)
    sgd_a = SGDClassifier(random_state=3, max_iter=3, engine="local[2]").fit(ds)
    sgd_b = SGDClassifier(random_state=3, max_iter=3, engine="local[2]").fit(ds)
    np.testing.assert_array_equal(sgd_a.coef_, sgd_b.coef_)  # same seed, same workers


@pytest.mark.parametrize("solver", ["sgd", "adagrad", "adam", "ftrl"])
def test_minibatch_solvers_reach_the_optimum(binary, solver: str) -> None:
    X, y = binary
    train, test = slice(0, 3_000), slice(3_000, None)
    optimum = LogisticRegression(tol=1e-10).fit(X[train], y[train])
    best = log_loss(y[test], optimum.predict_proba(X[test]))
    eta0 = {"sgd": 0.01, "adagrad": 0.1, "adam": 0.01, "ftrl": 0.5}[solver]
    model = LogisticRegression(solver=solver, eta0=eta0, max_iter=30, tol=1e-5, batch_size=64,
                               random_state=0).fit(X[train], y[train])
    assert log_loss(y[test], model.predict_proba(X[test])) <= 1.01 * best
    assert len(model.history_) == model.n_iter_ and "train_loss" in model.history_[0]


def test_early_stopping_records_validation_loss(binary) -> None:
    X, y = binary
    model = SGDClassifier(early_stopping=True, max_iter=50, n_iter_no_change=2, random_state=0)
    model.fit(X, y)
    assert model.n_iter_ < 50 and all("validation_loss" in h for h in model.history_)


def test_sample_weights_equal_repeated_rows(binary) -> None:
    X, y = binary
    X, y = X[:500], y[:500]
    weights = np.where(np.arange(500) % 3 == 0, 2.0, 1.0)
    repeated = np.repeat(np.arange(500), weights.astype(int))
    weighted = exact_logistic().fit(X, y, sample_weight=weights)
    duplicated = exact_logistic().fit(X[repeated], y[repeated])
    np.testing.assert_allclose(weighted.coef_, duplicated.coef_, atol=1e-6)


def test_balanced_class_weight_favours_the_rare_class() -> None:
    X, y = make_classification(n_samples=3_000, weights=[0.95], random_state=2)
    plain = LogisticRegression().fit(X, y)
    balanced = LogisticRegression(class_weight="balanced").fit(X, y)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()
    with pytest.raises(InvalidParameterError, match="class_weight names label"):
        LogisticRegression(class_weight={7: 2.0}).fit(X, y)


def test_categorical_and_missing_features_are_transformed_with_the_model(table) -> None:
    model = LogisticRegression(categorical="onehot").fit(Dataset(table, target="y", weight="w"))
    assert model.coef_.shape[1] == model.transformer_.n_features_in_ + model.transformer_.n_codes
    proba = model.predict_proba(Dataset(table.drop_columns(["y"]), weight="w"))
    assert proba.shape == (table.num_rows, 2) and np.isfinite(proba).all()


def test_save_and_load_round_trip(binary, tmp_path) -> None:
    X, y = binary
    for model in (LogisticRegression().fit(X, y), SGDRegressor(random_state=0).fit(X, X[:, 0])):
        path = tmp_path / f"{type(model).__name__}.bigfit"
        model.save(str(path))
        again = bigfit.load(str(path))
        assert type(again) is type(model)
        np.testing.assert_array_equal(again.predict(X), model.predict(X))


@pytest.mark.parametrize("estimator", [LogisticRegression, LinearRegression, SGDClassifier,
                                       SGDRegressor])
def test_a_fresh_process_loads_a_saved_model(binary, tmp_path, estimator) -> None:
    X, y = binary
    path = tmp_path / "model.bigfit"
    estimator().fit(X, y).save(str(path))
    code = f"import bigfit; print(type(bigfit.load({str(path)!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == estimator.__name__


def test_bad_input(binary, table) -> None:
    X, y = binary
    with pytest.raises(NotFittedError):
        LogisticRegression().predict(X)
    with pytest.raises(DataError, match="use LogisticRegression"):
        SGDClassifier(loss="hinge").fit(X, y % 3 + (X[:, 0] > 1))
    with pytest.raises(DataError, match="only one class"):
        LogisticRegression().fit(X, np.zeros(len(y)))
    with pytest.raises(DataError, match="regression target must be numeric"):
        LinearRegression().fit(X, np.array(["a", "b"] * (len(y) // 2)))
    with pytest.raises(DataError, match=r"'c' \(\d+ NaN"):
        LogisticRegression(impute="error").fit(Dataset(table, target="y"))
    fitted = LogisticRegression().fit(X, y)
    with pytest.raises(SchemaError, match="X has 3 features, but LogisticRegression is expecting 8"):
        fitted.predict(X[:, :3])
    model = LogisticRegression().fit(Dataset(table, target="y"))
    with pytest.raises(SchemaError, match=r"lacks feature column\(s\) \['city'\]"):
        model.predict(Dataset(table.drop_columns(["city"])))
    with pytest.raises(DataError, match="diverged.*learning rate"):
        SGDRegressor(learning_rate="constant", eta0=1e6, random_state=0).fit(X, X[:, 0] * 1e6)
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of LogisticRegression"):
        LogisticRegression(alpha=-1.0).fit(X, y)


@pytest.mark.parametrize("classes", [[0, 1, 2], [1, 2, 5], ["a", "b", "c"]])
def test_labels_become_class_indices_and_unseen_ones_are_refused(classes) -> None:
    classes = np.array(classes)
    y = classes[[2, 0, 1, 0]]
    np.testing.assert_array_equal(encode_labels(y, classes), [2, 0, 1, 0])
    for unseen in ([7], [-1]) if classes.dtype.kind in "iu" else (["z"],):
        with pytest.raises(DataError, match=rf"Label\(s\) {unseen[0]!r} were not seen in fit"):
            encode_labels(np.concatenate([y, np.array(unseen, dtype=y.dtype)]), classes)


def test_partial_fit_streams_to_the_optimum(binary) -> None:
    X, y = binary
    model = SGDClassifier(random_state=0)
    for _ in range(5):
        for chunk in np.array_split(np.arange(3_000), 10):
            model.partial_fit(X[chunk], y[chunk], classes=[0, 1])
    best = log_loss(y[3_000:], LogisticRegression().fit(X[:3_000], y[:3_000]).predict_proba(X[3_000:]))
    assert log_loss(y[3_000:], model.predict_proba(X[3_000:])) <= 1.05 * best
    assert len(model.history_) == 50 and model.n_rows_seen_ == 15_000
    with pytest.raises(InvalidParameterError, match="classes must be passed on the first call"):
        SGDClassifier().partial_fit(X, y)
    with pytest.raises(SchemaError, match="X has 3 features, but SGDClassifier is expecting 8"):
        model.partial_fit(X[:, :3], y)


class _StopAt:
    """A callback that kills the run after epoch ``at`` (like a killed process)."""

    def __init__(self, at: int) -> None:
        self.at, self.seen = at, 0

    def on_fit_start(self, info) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs) -> None:
        self.seen += 1
        if epoch == self.at:
            raise KeyboardInterrupt

    def on_fit_end(self, logs) -> None:
        pass


@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(tol=1e-10),
    lambda: SGDClassifier(random_state=0, max_iter=8, tol=0.0),
    lambda: LogisticRegression(solver="adam", max_iter=6, tol=0.0, random_state=1),
], ids=["lbfgs", "sgd", "adam"])
def test_resume_equals_uninterrupted(binary, tmp_path, make) -> None:
    X, y = binary
    uninterrupted = make().fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        make().fit(X, y, checkpoint_dir=str(tmp_path), checkpoint_every=0, callbacks=[_StopAt(3)])
    counter = _StopAt(-1)
    resumed = make().fit(X, y, checkpoint_dir=str(tmp_path), resume=True, callbacks=[counter])
    np.testing.assert_array_equal(resumed.coef_, uninterrupted.coef_)
    assert resumed.n_iter_ == uninterrupted.n_iter_ and counter.seen <= uninterrupted.n_iter_ - 3
    from bigfit.exceptions import CheckpointMismatchError
    with pytest.raises(CheckpointMismatchError):
        make().fit(X[:100], y[:100], checkpoint_dir=str(tmp_path), resume=True)


def test_auto_solver_follows_data_size_and_cache(binary_parquet) -> None:
    roomy = LogisticRegression(max_iter=3).fit(Dataset(binary_parquet, target="y", memory_limit="8GB"))
    tight = LogisticRegression(max_iter=3).fit(Dataset(binary_parquet, target="y", memory_limit="64kB"))
    uncached = LogisticRegression(max_iter=3, cache=False).fit(Dataset(binary_parquet, target="y"))
    assert (roomy.solver_, tight.solver_, uncached.solver_) == ("lbfgs", "adam", "adam")
    assert SGDClassifier(max_iter=2).fit(Dataset(binary_parquet, target="y")).solver_ == "sgd"


def test_a_model_fitted_on_named_columns_predicts_a_plain_array_by_position() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2_000, 3))
    y = (X @ [1.0, -1.0, 0.5] > 0).astype(int)
    table = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y}
    model = bigfit.LogisticRegression().fit(bigfit.Dataset(table, target="y"))
    np.testing.assert_array_equal(model.predict(X), model.predict(bigfit.Dataset(table)))
    with pytest.raises(SchemaError, match="X has 2 features, but LogisticRegression is expecting 3"):
        model.predict(X[:, :2])


def write_with_missing_values_on_the_validation_side(path, X, y, *, missing: bool = True) -> str:
    """Write ``X, y`` to ``path``; with ``missing``, 50 rows on the validation side of a
    0.2 split (seed 0) get a missing x0, and the training rows stay complete."""
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**columns, "y": y}), path)
    if missing:
        x0 = X[:, 0].copy()
        x0[validation_rows(path, X)[:50]] = np.nan
        pq.write_table(pa.table({**columns, "x0": x0, "y": y}), path)
    return str(path)


def validation_rows(path, X) -> np.ndarray:
    """Positions of the rows of ``X`` (written to ``path``) on the validation side of a 0.2
    split with seed 0."""
    _, valid = Dataset(str(path), target="y").split(validation=0.2, seed=0)
    held_out = np.isin(X[:, 0].astype(np.float32),
                       np.concatenate([b.X[:, 0] for b in valid.batches()]))
    return np.flatnonzero(held_out)


def test_missing_values_only_on_the_validation_side_are_imputed(tmp_path, binary) -> None:
    path = write_with_missing_values_on_the_validation_side(tmp_path / "d.parquet", *binary)
    model = SGDClassifier(early_stopping=True, validation_fraction=0.2, random_state=0,
                          max_iter=3).fit(Dataset(path, target="y"))
    assert not model.transformer_.has_missing_
    assert all(np.isfinite(h["validation_loss"]) for h in model.history_)
    assert np.isfinite(model.evaluate(Dataset(path, target="y"))["log_loss"])


@pytest.mark.parametrize("missing", [False, True])
def test_lbfgs_on_a_cached_split_equals_the_fit_without_cache(tmp_path, binary, missing,
                                                              monkeypatch) -> None:
    """Cached passes give the validation rows weight 0 in place of copying them out, unless
    one of their values is missing: the fit is the same either way."""
    path = write_with_missing_values_on_the_validation_side(tmp_path / "d.parquet", *binary,
                                                            missing=missing)
    weighed = []
    may_weigh_out = _entry._may_weigh_out
    monkeypatch.setattr(_entry, "_may_weigh_out", lambda *a: weighed.append(1) or may_weigh_out(*a))
    fits = [LogisticRegression(solver="lbfgs", early_stopping=True, validation_fraction=0.2,
                               tol=1e-10, cache=cache).fit(Dataset(path, target="y"))
            for cache in (False, True)]
    assert weighed  # the cached passes took the weighted path
    np.testing.assert_allclose(fits[1].coef_, fits[0].coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fits[1].intercept_, fits[0].intercept_, rtol=0, atol=1e-8)
    assert fits[1].n_iter_ == fits[0].n_iter_
    losses = [fit.history_[-1]["validation_loss"] for fit in fits]
    assert np.isfinite(losses).all() and losses[1] == pytest.approx(losses[0], abs=1e-10)


def test_a_label_only_on_the_validation_side_is_no_class_of_the_training_side(tmp_path,
                                                                              binary) -> None:
    """Cached training passes read the validation rows in place, with weight 0: their labels
    must not count, even one the training rows never show."""
    X, y = binary
    path = write_with_missing_values_on_the_validation_side(tmp_path / "d.parquet", X, y,
                                                            missing=False)
    labels = y.copy()
    labels[validation_rows(path, X)[:3]] = 7
    write_with_missing_values_on_the_validation_side(path, X, labels, missing=False)
    train, valid = Dataset(path, target="y").split(validation=0.2, seed=0)
    model = LogisticRegression(solver="lbfgs", max_iter=20).fit(train)
    assert model.classes_.tolist() == [0, 1]
    with pytest.raises(DataError, match="Label.*7.*not seen in fit"):
        model.evaluate(valid)
