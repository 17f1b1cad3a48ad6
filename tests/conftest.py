"""Small datasets built in each test session: every test generates its own data."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigfit.data.batch import Batch

N_ROWS = 6_000


def make_table(n: int = N_ROWS, seed: int = 0) -> pa.Table:
    """A table with every column role: numeric (with nulls), categorical, datetime, target, weight."""
    rng = np.random.default_rng(seed)
    with_nulls = rng.normal(size=n)
    nulls = rng.random(n) < 0.05
    start = np.datetime64("2024-01-01T00:00:00", "s")
    return pa.table({
        "a": rng.normal(3.0, 2.0, n),
        "b": pa.array(rng.integers(-5, 5, n), pa.int64()),
        "c": pa.array(with_nulls, mask=nulls),
        "city": pa.array(rng.choice(["paris", "lima", "oslo", "pune"], n)),
        "flag": pa.array(rng.random(n) < 0.3),
        "when": pa.array(start + rng.integers(0, 3 * 365 * 86400, n).astype("timedelta64[s]")),
        "w": rng.uniform(0.5, 2.0, n),
        "y": pa.array(rng.integers(0, 2, n), pa.int64()),
    })


@pytest.fixture(scope="session")
def table() -> pa.Table:
    return make_table()


@pytest.fixture(scope="session")
def parquet_dir(tmp_path_factory: pytest.TempPathFactory, table: pa.Table) -> str:
    """Three Parquet files of 500-row row groups (12 row groups in all)."""
    root = tmp_path_factory.mktemp("parquet")
    thirds = np.array_split(np.arange(table.num_rows), 3)
    for i, rows in enumerate(thirds):
        pq.write_table(table.take(rows), root / f"part-{i}.parquet", row_group_size=500)
    return str(root)


def collect(batches) -> Batch:
    """Concatenate a stream of batches and order the rows by row id."""
    batch = Batch.concat(list(batches))
    return batch.take(np.argsort(batch.row_id, kind="stable"))


def assert_states_equal(left, right) -> None:
    """Deep equality of plain-data states (arrays compared by value and dtype, NaN == NaN)."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            assert_states_equal(left[key], right[key])
    elif isinstance(left, list):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            assert_states_equal(a, b)
    elif isinstance(left, np.ndarray):
        assert left.dtype == right.dtype
        np.testing.assert_array_equal(left, right)
    else:
        assert left == right
