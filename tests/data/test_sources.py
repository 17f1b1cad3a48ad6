"""Every source type and format yields the same batches as the table it holds."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from bigfit import Dataset
from bigfit.data.schema import DATETIME_PARTS
from tests.conftest import collect


def in_order(ds: Dataset):
    from bigfit.data.batch import Batch
    return Batch.concat(list(ds.batches(batch_size=777)))


@pytest.fixture(scope="module")
def expected(table: pa.Table):
    return in_order(Dataset(table, target="y", weight="w"))


def assert_same_rows(got, expected) -> None:
    np.testing.assert_array_equal(got.X, expected.X)
    np.testing.assert_array_equal(got.hashes, expected.hashes)
    np.testing.assert_array_equal(got.y.astype(np.float64), expected.y.astype(np.float64))
    np.testing.assert_array_equal(got.w, expected.w)


def test_memory_layout(table: pa.Table, expected) -> None:
    ds = Dataset(table, target="y", weight="w")
    parts = [f"when.{p}" for p in DATETIME_PARTS]
    assert ds.numeric_features == ["a", "b", "c", *parts]
    assert ds.categorical_features == ["city", "flag"]
    assert expected.X.dtype == np.float32 and expected.X.flags.c_contiguous
    assert expected.X.shape == (table.num_rows, 3 + len(DATETIME_PARTS))
    np.testing.assert_allclose(expected.X[:, 0], table.column("a").to_numpy(), rtol=1e-6)
    assert np.isnan(expected.X[:, 2]).sum() == table.column("c").null_count
    years = np.array([v.year for v in table.column("when").to_pylist()])
    np.testing.assert_array_equal(expected.X[:, 3], years)
    assert len(np.unique(expected.hashes[:, 0])) == 4
    assert expected.w.dtype == np.float32


def test_parquet_directory(parquet_dir: str, expected) -> None:
    ds = Dataset(parquet_dir, target="y", weight="w")
    assert ds.format == "parquet" and len(ds.files) == 3 and ds.num_rows == len(expected)
    assert_same_rows(in_order(ds), expected)


def test_parquet_glob_and_list(parquet_dir: str, expected) -> None:
    by_glob = Dataset(f"{parquet_dir}/part-*.parquet", target="y", weight="w")
    files = sorted(by_glob.files)
    by_list = Dataset(files, target="y", weight="w")
    assert_same_rows(in_order(by_glob), expected)
    assert_same_rows(in_order(by_list), expected)
    assert len(Dataset(f"{parquet_dir}/part-1.parquet", target="y").files) == 1


def test_file_url(parquet_dir: str, expected) -> None:
    ds = Dataset(f"file://{parquet_dir}", target="y", weight="w")
    assert_same_rows(in_order(ds), expected)


def test_csv(tmp_path, table: pa.Table, expected) -> None:
    path = tmp_path / "data.csv"
    pacsv.write_csv(table, path)
    ds = Dataset(str(path), target="y", weight="w", block_bytes=40_000)
    assert ds.format == "csv" and ds.num_rows is None
    assert len(ds.shards(1_000)) > 5  # split by byte blocks
    assert_same_rows(in_order(ds), expected)


def test_csv_options(tmp_path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("1;x;NA\n2;y;3.5\n-;z;4\n")
    ds = Dataset(str(path), format="csv", delimiter=";", header=False, null_values=["NA", "-"],
                 schema={"column1": "string"}, target="column2")
    batch = next(ds.batches())
    np.testing.assert_array_equal(batch.X[:, 0], [1, 2, np.nan])
    np.testing.assert_array_equal(batch.y, [np.nan, 3.5, 4.0])
    assert ds.categorical_features == ["column1"]


def test_json_lines(tmp_path, table: pa.Table, expected) -> None:
    path = tmp_path / "data.jsonl"
    with open(path, "w") as out:
        for row in table.to_pylist():
            row["when"] = row["when"].isoformat(sep=" ")
            out.write(json.dumps(row) + "\n")
    ds = Dataset(str(path), target="y", weight="w", schema={"when": pa.timestamp("s")},
                 block_bytes=50_000)
    assert ds.format == "json"
    assert_same_rows(in_order(ds), expected)


def test_arrow_ipc(tmp_path, table: pa.Table, expected) -> None:
    path = tmp_path / "data.arrow"
    with ipc.new_file(path, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=1_000):
            writer.write_batch(batch)
    ds = Dataset(str(path), target="y", weight="w")
    assert ds.format == "ipc" and ds.num_rows == table.num_rows and len(ds.shards(6)) == 6
    assert_same_rows(in_order(ds), expected)


def test_hive_partitions(tmp_path, table: pa.Table) -> None:
    for region in ("north", "south"):
        for year in (2023, 2024):
            folder = tmp_path / f"region={region}" / f"year={year}"
            folder.mkdir(parents=True)
            pq.write_table(table.slice(0, 100), folder / "data.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    ds = Dataset(str(tmp_path), target="y")
    assert ds.num_rows == 400
    assert "region" in ds.categorical_features and "year" in ds.numeric_features
    batch = collect(ds.batches())
    year = batch.X[:, ds.numeric_features.index("year")]
    assert sorted(np.unique(year)) == [2023, 2024]
    assert len(np.unique(batch.hashes[:, ds.categorical_features.index("region")])) == 2


@pytest.mark.parametrize("kind", ["numpy", "pandas", "polars", "arrow", "dict"])
def test_in_memory_sources(kind: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1_000, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    if kind == "numpy":
        ds = Dataset.from_arrays(X, y)
    else:
        columns = {f"x{j}": X[:, j] for j in range(4)} | {"y": y}
        source = {"pandas": lambda: __import__("pandas").DataFrame(columns),
                  "polars": lambda: __import__("polars").DataFrame(columns),
                  "arrow": lambda: pa.table(columns), "dict": lambda: columns}[kind]()
        ds = Dataset(source, target="y")
    batch = in_order(ds)
    np.testing.assert_array_equal(batch.X, X.astype(np.float32))
    np.testing.assert_array_equal(batch.y, y)


def test_from_arrays_weights_and_names() -> None:
    X = np.arange(12.0).reshape(6, 2)
    ds = Dataset.from_arrays(X, np.arange(6), sample_weight=np.ones(6), feature_names=["u", "v"])
    assert ds.numeric_features == ["u", "v"] and ds.weight == "sample_weight"
    np.testing.assert_array_equal(next(ds.batches()).w, np.ones(6, np.float32))


def test_features_and_forced_categorical(table: pa.Table) -> None:
    ds = Dataset(table, target="y", features=["a", "b"], categorical=["b"])
    assert ds.numeric_features == ["a"] and ds.categorical_features == ["b"]
    assert ds.layout.columns == ["a", "b", "y"]


def test_schema_from_metadata_only(parquet_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bigfit.data.formats.parquet import ParquetFormat

    def no_data(*args, **kwargs):
        raise AssertionError("opening a dataset must not read data pages")

    monkeypatch.setattr(ParquetFormat, "read", no_data)
    ds = Dataset(parquet_dir, target="y")
    assert ds.num_rows == 6_000 and ds.schema.field("a").type == pa.float64()
