"""Algorithms written on map / map_reduce give the local engine's answers on Spark."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification, make_regression

from bigfit import Dataset, LinearRegression, LogisticRegression, SGDClassifier
from bigfit.data.profile import profile
from bigfit.engine.spark import SparkEngine
from tests.engine.spark._faults import KillingEngine


def _write(path: Path, X: np.ndarray, y: np.ndarray) -> str:
    pq.write_table(pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y}), path,
                   row_group_size=250)
    return str(path)


@pytest.fixture(scope="module")
def binary_parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    X, y = make_classification(n_samples=4_000, n_features=8, n_informative=5, flip_y=0.05,
                               random_state=0)
    return _write(tmp_path_factory.mktemp("binary") / "d.parquet", X, y)


def test_inspect_statistics_are_exact(parquet_dir: str, spark_engine: SparkEngine) -> None:
    ds = Dataset(parquet_dir, target="y", weight="w")
    on_spark = profile(ds, engine=spark_engine, shards=6)
    local = profile(ds, engine="local", shards=6)
    assert on_spark.engine == "spark" and on_spark.rows == local.rows == 6_000
    assert on_spark.columns == local.columns  # exact: the combine tree is fixed by position
    assert on_spark.class_balance == local.class_balance
    assert on_spark.shard_rows == local.shard_rows


def test_lbfgs_coefficients_equal_local(binary_parquet: str, spark_engine: SparkEngine) -> None:
    ds = Dataset(binary_parquet, target="y")
    on_spark = LogisticRegression(tol=1e-10, engine=spark_engine).fit(ds)
    local = LogisticRegression(tol=1e-10, engine="local[2]").fit(ds)
    np.testing.assert_allclose(on_spark.coef_, local.coef_, atol=1e-6, rtol=0)
    np.testing.assert_allclose(on_spark.intercept_, local.intercept_, atol=1e-6, rtol=0)
    assert on_spark.n_iter_ == local.n_iter_


def test_regression_by_spec_equals_local(tmp_path: Path, spark: Any) -> None:
    X, y = make_regression(n_samples=3_000, n_features=6, noise=2.0, random_state=4)
    ds = Dataset(_write(tmp_path / "r.parquet", X, y), target="y")
    on_spark = LinearRegression(alpha=1e-3, engine="spark").fit(ds)  # the running session
    local = LinearRegression(alpha=1e-3, engine="local[2]").fit(ds)
    np.testing.assert_allclose(on_spark.coef_, local.coef_, atol=1e-6, rtol=0)
    assert spark.sparkContext._jsc is not None, "the engine stopped a session it does not own"


def test_sgd_parameter_mixing_equals_local(binary_parquet: str, spark_engine: SparkEngine) -> None:
    ds = Dataset(binary_parquet, target="y")
    on_spark = SGDClassifier(random_state=3, max_iter=3, engine=spark_engine).fit(ds)
    local = SGDClassifier(random_state=3, max_iter=3, engine="local[2]").fit(ds)
    # Same shards, same groups per worker, same mixing order: only float rounding may differ.
    np.testing.assert_allclose(on_spark.coef_, local.coef_, atol=1e-9, rtol=0)
    np.testing.assert_allclose(on_spark.intercept_, local.intercept_, atol=1e-9, rtol=0)


def test_worker_killed_mid_iteration_ends_with_the_same_model(
        binary_parquet: str, spark: Any, spark_engine: SparkEngine, tmp_path: Path) -> None:
    ds = Dataset(binary_parquet, target="y")
    marker = str(tmp_path / "killed")
    killing = KillingEngine(spark, marker, at=4)  # the first pass, then L-BFGS evaluations
    faulty = LogisticRegression(tol=1e-10, engine=killing).fit(ds)
    assert os.path.exists(marker), "no worker was killed"
    assert killing.calls > 4
    clean = LogisticRegression(tol=1e-10, engine=spark_engine).fit(ds)
    np.testing.assert_array_equal(faulty.coef_, clean.coef_)
    np.testing.assert_array_equal(faulty.intercept_, clean.intercept_)
