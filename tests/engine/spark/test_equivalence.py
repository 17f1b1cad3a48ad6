"""Algorithms written on map / map_reduce give the local engine's answers on Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_regression

from bigfit import Dataset, LinearRegression
from bigfit.engine.spark import SparkEngine
from tests.engine._equivalence import EngineEquivalence, binary_parquet, write_parquet

__all__ = ["binary_parquet"]  # a module fixture the shared tests use


class TestSparkEquivalence(EngineEquivalence):
    name = "spark"

    @pytest.fixture
    def engine(self, spark_engine: SparkEngine) -> SparkEngine:
        return spark_engine


def test_regression_by_spec_equals_local(tmp_path: Path, spark: Any) -> None:
    X, y = make_regression(n_samples=3_000, n_features=6, noise=2.0, random_state=4)
    ds = Dataset(write_parquet(tmp_path / "r.parquet", X, y), target="y")
    on_spark = LinearRegression(alpha=1e-3, engine="spark").fit(ds)  # the running session
    local = LinearRegression(alpha=1e-3, engine="local[2]").fit(ds)
    np.testing.assert_allclose(on_spark.coef_, local.coef_, atol=1e-6, rtol=0)
    assert spark.sparkContext._jsc is not None, "the engine stopped a session it does not own"
