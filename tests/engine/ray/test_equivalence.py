"""Algorithms written on map / map_reduce give the local engine's answers on Ray."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification, make_regression

from bigfit import Dataset, LinearRegression, LogisticRegression, SGDClassifier
from bigfit.data.profile import profile
from bigfit.engine.ray import RayEngine
from tests.engine.ray._faults import KillingEngine


def _write(path: Path, X: np.ndarray, y: np.ndarray) -> str:
    pq.write_table(pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y}), path,
                   row_group_size=250)
    return str(path)


@pytest.fixture(scope="module")
def binary_parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    X, y = make_classification(n_samples=4_000, n_features=8, n_informative=5, flip_y=0.05,
                               random_state=0)
    return _write(tmp_path_factory.mktemp("binary") / "d.parquet", X, y)


def test_inspect_statistics_are_exact(parquet_dir: str, ray_engine: RayEngine) -> None:
    ds = Dataset(parquet_dir, target="y", weight="w")
    on_ray = profile(ds, engine=ray_engine, shards=6)
    local = profile(ds, engine="local", shards=6)
    assert on_ray.engine == "ray" and on_ray.rows == local.rows == 6_000
    assert on_ray.columns == local.columns  # exact: the combine tree is fixed by position
    assert on_ray.class_balance == local.class_balance
    assert on_ray.shard_rows == local.shard_rows


def test_lbfgs_coefficients_equal_local(binary_parquet: str, ray_engine: RayEngine) -> None:
    ds = Dataset(binary_parquet, target="y")
    on_ray = LogisticRegression(tol=1e-10, engine=ray_engine).fit(ds)
    local = LogisticRegression(tol=1e-10, engine="local").fit(ds)
    np.testing.assert_allclose(on_ray.coef_, local.coef_, atol=1e-6, rtol=0)
    np.testing.assert_allclose(on_ray.intercept_, local.intercept_, atol=1e-6, rtol=0)
    assert on_ray.n_iter_ == local.n_iter_


def test_regression_by_spec_equals_local(tmp_path: Path, ray_runtime: None) -> None:
    import ray

    X, y = make_regression(n_samples=3_000, n_features=6, noise=2.0, random_state=4)
    ds = Dataset(_write(tmp_path / "r.parquet", X, y), target="y")
    on_ray = LinearRegression(alpha=1e-3, engine="ray").fit(ds)  # the running runtime
    local = LinearRegression(alpha=1e-3, engine="local[2]").fit(ds)
    np.testing.assert_allclose(on_ray.coef_, local.coef_, atol=1e-6, rtol=0)
    assert ray.is_initialized(), "the engine shut down a runtime it does not own"


def test_sgd_parameter_mixing_equals_local(binary_parquet: str, ray_engine: RayEngine) -> None:
    ds = Dataset(binary_parquet, target="y")
    on_ray = SGDClassifier(random_state=3, max_iter=3, engine=ray_engine).fit(ds)
    local = SGDClassifier(random_state=3, max_iter=3, engine="local[2]").fit(ds)
    # Two workers each: same shards, same groups, same mixing order; only rounding may differ.
    np.testing.assert_allclose(on_ray.coef_, local.coef_, atol=1e-9, rtol=0)
    np.testing.assert_allclose(on_ray.intercept_, local.intercept_, atol=1e-9, rtol=0)


def test_worker_killed_mid_iteration_ends_with_the_same_model(
        binary_parquet: str, ray_engine: RayEngine, tmp_path: Path) -> None:
    ds = Dataset(binary_parquet, target="y")
    marker = str(tmp_path / "killed")
    killing = KillingEngine(marker, at=4)  # the first pass, then L-BFGS evaluations
    faulty = LogisticRegression(tol=1e-10, engine=killing).fit(ds)
    assert os.path.exists(marker), "no worker was killed"
    assert killing.calls > 4
    clean = LogisticRegression(tol=1e-10, engine=ray_engine).fit(ds)
    np.testing.assert_array_equal(faulty.coef_, clean.coef_)
    np.testing.assert_array_equal(faulty.intercept_, clean.intercept_)
