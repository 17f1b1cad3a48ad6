"""A Ray Dataset as input: its blocks are read inside the tasks, never collected to the driver."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import ray
from sklearn.datasets import make_classification

from bigfit import Dataset, LogisticRegression
from bigfit.data.batch import Batch
from bigfit.engine import LocalEngine
from bigfit.engine.ray import RayEngine
from bigfit.exceptions import InvalidParameterError, TaskError


@pytest.fixture(scope="module")
def classification(ray_runtime: None) -> pa.Table:
    X, y = make_classification(n_samples=3_000, n_features=6, n_informative=4, random_state=7)
    return pa.table({**{f"x{j}": X[:, j] for j in range(6)}, "y": y})


def test_blocks_are_the_units_and_rows_match_the_table(table: pa.Table, ray_runtime: None) -> None:
    source = ray.data.from_arrow(table).repartition(5)
    ds = Dataset(source, target="y", weight="w")
    reference = Dataset(table, target="y", weight="w")
    assert ds.format == "ray" and ds.num_rows == table.num_rows
    assert ds.numeric_features == reference.numeric_features
    assert ds.categorical_features == reference.categorical_features
    shards = ds.shards(3)
    assert len(shards) == 3 and sum(shard.num_rows for shard in shards) == table.num_rows
    # In order: row ids name the source (the table, or the Ray Dataset), so they differ.
    ours = Batch.concat(list(ds.batches(batch_size=700)))
    theirs = Batch.concat(list(reference.batches(batch_size=700)))
    np.testing.assert_array_equal(ours.X, theirs.X)
    np.testing.assert_array_equal(ours.hashes, theirs.hashes)
    np.testing.assert_array_equal(ours.y, theirs.y)
    np.testing.assert_array_equal(ours.w, theirs.w)
    assert ds.cache() is ds  # the blocks are in memory already


def test_pandas_blocks_are_converted(ray_runtime: None) -> None:
    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(400.0), "kind": ["a", "b", "c", "d"] * 100, "y": [0, 1] * 200})
    ds = Dataset(ray.data.from_pandas(frame).repartition(4), target="y")
    reference = Dataset(frame, target="y")
    with RayEngine() as engine:
        sums = engine.map(lambda shard: sum(float(b.X.sum()) + int(b.hashes.sum() % 997)
                                            for b in shard.batches()), ds.shards(4))
    assert len(sums) == 4
    assert sum(sums) == sum(float(b.X.sum()) + int(b.hashes.sum() % 997) for b in reference.batches(100))


def test_fit_on_a_ray_dataset_equals_the_table(classification: pa.Table, ray_engine: RayEngine) -> None:
    source = ray.data.from_arrow(classification).repartition(6)
    on_ray = LogisticRegression(tol=1e-10, engine=ray_engine).fit(Dataset(source, target="y"))
    local = LogisticRegression(tol=1e-10, engine="local").fit(Dataset(classification, target="y"))
    np.testing.assert_allclose(on_ray.coef_, local.coef_, atol=1e-6, rtol=0)
    np.testing.assert_allclose(on_ray.intercept_, local.intercept_, atol=1e-6, rtol=0)


def test_worker_processes_without_ray_say_which_engine_to_use(classification: pa.Table) -> None:
    ds = Dataset(ray.data.from_arrow(classification), target="y")
    with LocalEngine(1) as engine, pytest.raises(TaskError, match="engine='ray'"):
        engine.map(lambda shard: len(list(shard.batches())), ds.shards(1))


def test_read_options_are_refused(classification: pa.Table) -> None:
    with pytest.raises(InvalidParameterError, match="format= and read options apply to files only"):
        Dataset(ray.data.from_arrow(classification), target="y", format="parquet")
