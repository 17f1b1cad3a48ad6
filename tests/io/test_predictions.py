"""PredictionWriter: Parquet output batch by batch, bounded buffer, all or nothing."""

from __future__ import annotations

import doctest
import uuid

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bigfit.io.predictions as predictions_module
from bigfit.exceptions import InvalidParameterError, SchemaError
from bigfit.io.predictions import PredictionWriter

SCHEMA = pa.schema({"row": pa.int64(), "label": pa.string(), "proba": pa.float32()})


def batch(start: int, n: int) -> dict:
    rows = np.arange(start, start + n)
    return {"row": rows, "label": np.where(rows % 2, "b", "a"), "proba": rows / 1e4}


def expected(n: int) -> pa.Table:
    return pa.Table.from_pydict(batch(0, n), schema=SCHEMA)


def write_in_batches(writer: PredictionWriter, n: int, size: int) -> None:
    for start in range(0, n, size):
        writer.write(batch(start, min(size, n - start)))


def leftovers(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_single_file_round_trip_with_full_row_groups(tmp_path):
    out = tmp_path / "preds.parquet"
    with PredictionWriter(out, SCHEMA, row_group_size=1_000) as writer:
        write_in_batches(writer, 4_500, 70)
        writer.write(pa.RecordBatch.from_pydict(batch(4_500, 10), schema=SCHEMA))
        writer.write(pa.table(batch(4_510, 5)))  # int64/float64 columns cast to the schema
        assert writer._buffered < writer.row_group_size  # bounded buffer
        assert not out.exists()  # nothing visible before close
    assert leftovers(tmp_path) == ["preds.parquet"]
    metadata = pq.ParquetFile(out).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == \
        [1_000] * 4 + [515]
    assert pq.read_table(out).equals(expected(4_515))
    assert writer.rows_written == 4_515 and writer.files == ["preds.parquet"]


def test_directory_rolls_part_files(tmp_path):
    out = tmp_path / "preds"
    with PredictionWriter(out, SCHEMA, row_group_size=300, max_rows_per_file=1_000) as writer:
        write_in_batches(writer, 2_500, 450)
    assert leftovers(tmp_path) == ["preds"]
    assert leftovers(out) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.ParquetFile(out / name).metadata.num_rows for name in leftovers(out)] == \
        [1_000, 1_000, 500]
    assert pq.ParquetFile(out / "part-00000.parquet").metadata.num_row_groups == 4  # 3x300+100
    assert pq.read_table(out).sort_by("row").equals(expected(2_500))


def test_exact_file_size_does_not_leave_an_empty_part(tmp_path):
    out = tmp_path / "preds/"
    with PredictionWriter(str(out) + "/", SCHEMA, max_rows_per_file=100) as writer:
        write_in_batches(writer, 200, 100)
    assert leftovers(out) == ["part-00000.parquet", "part-00001.parquet"]


@pytest.mark.parametrize("name", ["preds.parquet", "preds"])
def test_no_rows_still_write_the_schema(tmp_path, name):
    out = tmp_path / name
    with PredictionWriter(out, SCHEMA):
        pass
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.schema.equals(SCHEMA)


@pytest.mark.parametrize("name", ["preds.parquet", "preds"])
def test_an_error_leaves_nothing(tmp_path, name):
    with pytest.raises(RuntimeError, match="model crashed"), \
            PredictionWriter(tmp_path / name, SCHEMA, row_group_size=10) as writer:
        write_in_batches(writer, 100, 7)
        raise RuntimeError("model crashed")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["preds.parquet", "preds"])
def test_abort_leaves_nothing(tmp_path, name):
    writer = PredictionWriter(tmp_path / name, SCHEMA, row_group_size=10)
    write_in_batches(writer, 100, 7)
    writer.abort()
    writer.close()  # a no-op once aborted
    assert leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="closed"):
        writer.write(batch(0, 1))


def test_existing_outputs_are_refused_unless_overwrite(tmp_path):
    file, folder = tmp_path / "preds.parquet", tmp_path / "preds"
    for out in (file, folder):
        with PredictionWriter(out, SCHEMA, max_rows_per_file=10) as writer:
            write_in_batches(writer, 30, 30)
        with pytest.raises(InvalidParameterError, match="overwrite=True"):
            PredictionWriter(out, SCHEMA)
        with pytest.raises(RuntimeError), PredictionWriter(out, SCHEMA, overwrite=True):
            raise RuntimeError  # a failed overwrite keeps the old output
        assert pq.read_table(out).num_rows == 30
        with PredictionWriter(out, SCHEMA, overwrite=True) as writer:
            writer.write(batch(0, 5))
        assert pq.read_table(out).num_rows == 5
    assert leftovers(folder) == ["part-00000.parquet"]  # old parts are gone
    assert leftovers(tmp_path) == ["preds", "preds.parquet"]


def test_a_directory_is_not_replaced_by_a_file(tmp_path):
    (tmp_path / "x.parquet").mkdir()
    with pytest.raises(InvalidParameterError, match="is a directory"):
        PredictionWriter(tmp_path / "x.parquet", SCHEMA, overwrite=True)


def test_file_urls_and_data_frames(tmp_path):
    pd = pytest.importorskip("pandas")
    out = tmp_path / "preds.parquet"
    with PredictionWriter(f"file://{out}", SCHEMA) as writer:
        writer.write(pd.DataFrame(batch(0, 20)))
    assert pq.read_table(out).equals(expected(20))


@pytest.mark.parametrize(("data", "match"), [
    ({"row": [1], "label": ["a"]}, r"missing \['proba'\]"),
    ({**batch(0, 1), "extra": [1]}, r"unexpected \['extra'\]"),
    ({"row": ["x"], "label": ["a"], "proba": [0.5]}, r"Column 'row' cannot be written as int64"),
    ({"row": [1, 2], "label": ["a"], "proba": [0.5]}, r"different lengths"),
    ([1, 2, 3], r"takes a pyarrow RecordBatch"),
])
def test_batches_must_match_the_schema(tmp_path, data, match):
    with PredictionWriter(tmp_path / "preds.parquet", SCHEMA) as writer:
        with pytest.raises(SchemaError, match=match):
            writer.write(data)
        writer.write(batch(0, 3))  # the writer is still usable
    assert pq.read_table(tmp_path / "preds.parquet").num_rows == 3


@pytest.mark.parametrize(("option", "value"), [("row_group_size", 0),
                                               ("max_rows_per_file", 1.5)])
def test_bad_sizes(tmp_path, option, value):
    with pytest.raises(InvalidParameterError, match=option):
        PredictionWriter(tmp_path / "p.parquet", SCHEMA, **{option: value})
    assert leftovers(tmp_path) == []


# -- URLs (fsspec's in-memory filesystem) ------------------------------------------------

@pytest.fixture
def memory_root():
    root = f"memory://bigfit-test-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def read_url(url: str) -> pa.Table:
    fs, path = fsspec.core.url_to_fs(url)
    return pq.read_table(path, filesystem=fs)


@pytest.mark.parametrize("name", ["preds.parquet", "preds"])
def test_urls_are_uploaded_at_the_end(memory_root, name):
    url = f"{memory_root}/{name}"
    fs = fsspec.filesystem("memory")
    with PredictionWriter(url, SCHEMA, max_rows_per_file=40, storage_options={}) as writer:
        write_in_batches(writer, 100, 30)
        assert not fs.exists(url)
    assert read_url(url).sort_by("row").equals(expected(100))
    if name == "preds":
        assert sorted(fs.ls(url, detail=False)) == [
            f"{url.removeprefix('memory:/')}/part-0000{i}.parquet" for i in range(3)]
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        PredictionWriter(url, SCHEMA)
    with PredictionWriter(url, SCHEMA, overwrite=True) as writer:
        writer.write(batch(0, 5))
    assert read_url(url).num_rows == 5
    if name == "preds":
        assert len(fs.ls(url)) == 1


def test_a_failed_url_write_uploads_nothing(memory_root):
    with pytest.raises(RuntimeError), PredictionWriter(f"{memory_root}/p", SCHEMA) as writer:
        writer.write(batch(0, 5))
        raise RuntimeError
    assert not fsspec.filesystem("memory").exists(memory_root)


def test_a_failed_upload_removes_the_parts_already_uploaded(memory_root, monkeypatch):
    fs = fsspec.filesystem("memory")
    real_put, calls = fs.put_file, []

    def flaky_put(local, remote, **kwargs):
        calls.append(remote)
        if len(calls) == 2:
            raise OSError("connection reset")
        return real_put(local, remote, **kwargs)

    monkeypatch.setattr(fs, "put_file", flaky_put)
    with pytest.raises(OSError, match="connection reset"), \
            PredictionWriter(f"{memory_root}/p", SCHEMA, max_rows_per_file=10) as writer:
        write_in_batches(writer, 30, 30)
    assert fs.ls(f"{memory_root}/p") == []


def test_docstring_examples():
    assert doctest.testmod(predictions_module).failed == 0
