"""Shards cover every row exactly once, are balanced and small, whatever the shard count."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigfit import Dataset
from bigfit.data.batch import Batch
from tests.conftest import collect


@pytest.fixture(scope="module")
def dataset(parquet_dir: str) -> Dataset:
    return Dataset(parquet_dir, target="y", weight="w")


@pytest.fixture(scope="module")
def reference(dataset: Dataset) -> Batch:
    return collect(dataset.batches())


def column_stats(batch: Batch) -> dict[str, np.ndarray]:
    X = batch.X.astype(np.float64)
    return {"count": (~np.isnan(X)).sum(0), "min": np.nanmin(X, 0), "max": np.nanmax(X, 0),
            "sum": np.nansum(X, 0), "rows": np.array(len(batch))}


@pytest.mark.parametrize("n", [1, 2, 3, 7, 36, 100])
def test_shards_cover_every_row_once(dataset: Dataset, reference: Batch, n: int) -> None:
    shards = dataset.shards(n)
    assert len(shards) == min(n, 12)
    got = collect(b for shard in shards for b in shard.batches())
    assert len(np.unique(got.row_id)) == len(got) == dataset.num_rows
    np.testing.assert_array_equal(got.row_id, reference.row_id)
    np.testing.assert_array_equal(got.X, reference.X)
    assert sum(s.num_rows for s in shards) == dataset.num_rows


@pytest.mark.parametrize("n", [2, 3, 4])
def test_shards_are_balanced(dataset: Dataset, n: int) -> None:
    rows = [s.num_rows for s in dataset.shards(n)]  # 12 row groups of 500 rows
    assert max(rows) <= 1.25 * min(rows)


def test_small_files_are_grouped(tmp_path, table: pa.Table) -> None:
    for i in range(40):
        pq.write_table(table.slice(i * 100, 100), tmp_path / f"f{i:02d}.parquet")
    shards = Dataset(str(tmp_path), target="y").shards(4)
    assert [s.num_rows for s in shards] == [1_000] * 4
    assert all(len(s.pieces) == 10 for s in shards)


def test_large_file_split_by_row_groups(tmp_path, table: pa.Table) -> None:
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=250)
    rows = [s.num_rows for s in Dataset(str(tmp_path / "big.parquet"), target="y").shards(5)]
    assert sum(rows) == table.num_rows and max(rows) <= 1.25 * min(rows)


def test_shard_is_small_to_pickle_and_reads_itself(dataset: Dataset, reference: Batch) -> None:
    shard = dataset.shards(4)[2]
    payload = pickle.dumps(shard)
    assert len(payload) < 8_000
    clone = pickle.loads(payload)
    np.testing.assert_array_equal(collect(clone.batches()).X, collect(shard.batches()).X)
    assert "row groups" in repr(shard)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 40), batch_size=st.integers(1, 3_000))
def test_statistics_do_not_depend_on_sharding(dataset: Dataset, reference: Batch,
                                              n: int, batch_size: int) -> None:
    partials = [column_stats(Batch.concat(list(s.batches(batch_size)))) for s in dataset.shards(n)]
    expected = column_stats(reference)
    np.testing.assert_array_equal(sum(p["count"] for p in partials), expected["count"])
    np.testing.assert_array_equal(np.min([p["min"] for p in partials], 0), expected["min"])
    np.testing.assert_array_equal(np.max([p["max"] for p in partials], 0), expected["max"])
    np.testing.assert_allclose(sum(p["sum"] for p in partials), expected["sum"], rtol=1e-12)
    assert sum(int(p["rows"]) for p in partials) == dataset.num_rows


@settings(max_examples=10, deadline=None)
@given(block=st.integers(2_000, 60_000), n=st.integers(1, 12))
def test_csv_blocks_cover_every_row_once(tmp_path_factory, block: int, n: int) -> None:
    rng = np.random.default_rng(block)
    table = pa.table({"x": rng.normal(size=3_000), "s": rng.choice(["a", "bb", "ccc"], 3_000)})
    path = tmp_path_factory.mktemp("csv") / "d.csv"
    import pyarrow.csv as pacsv
    pacsv.write_csv(table, path)
    ds = Dataset(str(path), block_bytes=block)
    got = Batch.concat([b for s in ds.shards(n) for b in s.batches()])
    np.testing.assert_array_equal(got.X[:, 0], table.column("x").to_numpy().astype(np.float32))
    assert len(np.unique(got.row_id)) == 3_000


def test_bad_shard_count(dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="number of shards"):
        dataset.shards(0)
