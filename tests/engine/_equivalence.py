"""Shared by the cluster-engine suites: algorithms give the local engine's answers, even
when a worker is killed mid-iteration.

A suite subclasses :class:`EngineEquivalence` and provides an ``engine`` fixture (the engine
under test, two workers, able to retry a killed task).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import make_classification

from bigfit import Dataset, LogisticRegression, SGDClassifier
from bigfit.data.profile import profile
from bigfit.data.shards import Shard
from bigfit.engine.base import Broadcast, Engine


def write_parquet(path: Path, X: np.ndarray, y: np.ndarray) -> str:
    """``X`` as columns x0, x1, ... and ``y``, in 250-row row groups."""
    pq.write_table(pa.table({**{f"x{j}": X[:, j] for j in range(X.shape[1])}, "y": y}), path,
                   row_group_size=250)
    return str(path)


class KillOnce:
    """Wraps a task function: the first worker to run shard 1 kills itself (SIGKILL) mid-task."""

    def __init__(self, fn: Callable[[Any], Any], marker: str) -> None:
        self.fn, self.marker = fn, marker

    def __call__(self, item: Any) -> Any:
        if isinstance(item, Shard) and item.index == 1:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass  # the retry: this time, finish
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.fn(item)


class KillingEngine(Engine):
    """Runs on ``inner``, but its ``at``-th map kills the worker running shard 1 once."""

    def __init__(self, inner: Engine, marker: str, at: int) -> None:
        self.inner, self.marker, self.at, self.calls = inner, marker, at, 0

    @property
    def workers(self) -> int:
        return self.inner.workers

    def broadcast(self, obj: Any) -> Broadcast[Any]:
        return self.inner.broadcast(obj)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], **kwargs: Any) -> list[Any]:
        self.calls += 1
        if self.calls == self.at:
            fn = KillOnce(fn, self.marker)
        return self.inner.map(fn, items, **kwargs)


@pytest.fixture(scope="module")
def binary_parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    X, y = make_classification(n_samples=4_000, n_features=8, n_informative=5, flip_y=0.05,
                               random_state=0)
    return write_parquet(tmp_path_factory.mktemp("binary") / "d.parquet", X, y)


class EngineEquivalence:
    """Tests of ``engine`` against ``local``; ``name`` is the engine's spec name."""

    name: str

    def test_inspect_statistics_are_exact(self, parquet_dir: str, engine: Engine) -> None:
        ds = Dataset(parquet_dir, target="y", weight="w")
        remote = profile(ds, engine=engine, shards=6)
        local = profile(ds, engine="local", shards=6)
        assert remote.engine == self.name and remote.rows == local.rows == 6_000
        assert remote.columns == local.columns  # exact: the combine tree is fixed by position
        assert remote.class_balance == local.class_balance
        assert remote.shard_rows == local.shard_rows

    def test_lbfgs_coefficients_equal_local(self, binary_parquet: str, engine: Engine) -> None:
        ds = Dataset(binary_parquet, target="y")
        remote = LogisticRegression(tol=1e-10, engine=engine).fit(ds)
        local = LogisticRegression(tol=1e-10, engine="local").fit(ds)
        np.testing.assert_allclose(remote.coef_, local.coef_, atol=1e-6, rtol=0)
        np.testing.assert_allclose(remote.intercept_, local.intercept_, atol=1e-6, rtol=0)
        assert remote.n_iter_ == local.n_iter_

    def test_sgd_parameter_mixing_equals_local(self, binary_parquet: str, engine: Engine) -> None:
        ds = Dataset(binary_parquet, target="y")
        remote = SGDClassifier(random_state=3, max_iter=3, engine=engine).fit(ds)
        local = SGDClassifier(random_state=3, max_iter=3, engine="local[2]").fit(ds)
        # Two workers each: same shards, same groups, same mixing order; only rounding may differ.
        np.testing.assert_allclose(remote.coef_, local.coef_, atol=1e-9, rtol=0)
        np.testing.assert_allclose(remote.intercept_, local.intercept_, atol=1e-9, rtol=0)

    def test_worker_killed_mid_iteration_ends_with_the_same_model(
            self, binary_parquet: str, engine: Engine, tmp_path: Path) -> None:
        ds = Dataset(binary_parquet, target="y")
        marker = str(tmp_path / "killed")
        killing = KillingEngine(engine, marker, at=4)  # the first pass, then L-BFGS evaluations
        faulty = LogisticRegression(tol=1e-10, engine=killing).fit(ds)
        assert os.path.exists(marker), "no worker was killed"
        assert killing.calls > 4
        clean = LogisticRegression(tol=1e-10, engine=engine).fit(ds)
        np.testing.assert_array_equal(faulty.coef_, clean.coef_)
        np.testing.assert_array_equal(faulty.intercept_, clean.intercept_)
