"""Algorithms written on map / map_reduce give the local engine's answers on Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_regression

from bigfit import Dataset, LinearRegression
from bigfit.engine.ray import RayEngine
from tests.engine._equivalence import EngineEquivalence, binary_parquet, write_parquet

__all__ = ["binary_parquet"]  # a module fixture the shared tests use


class TestRayEquivalence(EngineEquivalence):
    name = "ray"

    @pytest.fixture
    def engine(self, ray_engine: RayEngine) -> RayEngine:
        return ray_engine


def test_regression_by_spec_equals_local(tmp_path: Path, ray_runtime: None) -> None:
    import ray

    X, y = make_regression(n_samples=3_000, n_features=6, noise=2.0, random_state=4)
    ds = Dataset(write_parquet(tmp_path / "r.parquet", X, y), target="y")
    on_ray = LinearRegression(alpha=1e-3, engine="ray").fit(ds)  # the running runtime
    local = LinearRegression(alpha=1e-3, engine="local[2]").fit(ds)
    np.testing.assert_allclose(on_ray.coef_, local.coef_, atol=1e-6, rtol=0)
    assert ray.is_initialized(), "the engine shut down a runtime it does not own"
