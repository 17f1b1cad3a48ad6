"""Bad input gets a clear error naming the file, column or row, never a raw pyarrow traceback."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigfit import Dataset
from bigfit.exceptions import (
    CorruptFileError,
    DataNotFoundError,
    EmptyDatasetError,
    MissingDependencyError,
    ParseError,
    SchemaError,
    UnknownFormatError,
)


def read_all(ds: Dataset) -> int:
    return sum(len(b) for b in ds.batches())


def test_path_not_found(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match="No such file or directory: .*missing.parquet") as info:
        Dataset(str(tmp_path / "missing.parquet"))
    assert isinstance(info.value, FileNotFoundError)


def test_glob_matches_nothing(tmp_path) -> None:
    with pytest.raises(DataNotFoundError, match=r"pattern .*\*\.parquet' matches no file"):
        Dataset(str(tmp_path / "*.parquet"))


def test_directory_without_data(tmp_path) -> None:
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(DataNotFoundError, match="holds no data file"):
        Dataset(str(tmp_path))


def test_unknown_format(tmp_path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UnknownFormatError, match="pass format="):
        Dataset(str(path))
    with pytest.raises(UnknownFormatError, match="Unknown format 'excel'"):
        Dataset(str(path), format="excel")
    with pytest.raises(UnknownFormatError, match="do not apply to the parquet format"):
        Dataset(str(path), format="parquet", delimiter=";")
    assert read_all(Dataset(str(path), format="csv")) == 1


def test_target_missing_lists_columns(parquet_dir: str) -> None:
    with pytest.raises(SchemaError, match=r"target column 'label' is not in .*columns are \['a', 'b'"):
        Dataset(parquet_dir, target="label")
    with pytest.raises(SchemaError, match="Did you mean 'city'"):
        Dataset(parquet_dir, target="cty")


def test_target_all_null(tmp_path) -> None:
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": pa.array([None, None], pa.float64())}),
                   tmp_path / "d.parquet")
    with pytest.raises(SchemaError, match="target column 'y' holds no value"):
        Dataset(str(tmp_path), target="y")
    (tmp_path / "d.csv").write_text("x,y\n1,\n2,\n")
    with pytest.raises(SchemaError, match="target column 'y' holds no value"):
        Dataset(str(tmp_path / "d.csv"), target="y")


def test_unparseable_csv_row_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    rows = [f"{i},{i * 2},{i % 3}" for i in range(200_000)]
    rows[1_500] = "1,2"  # in the first rows, found when types are inferred
    rows[150_000] = "1,2,3,4"  # found when its block is read
    path.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    with pytest.raises(ParseError, match=r"bad\.csv, line 1502: cannot parse the row \(Expected 3 columns, got 2"):
        Dataset(str(path))
    rows[1_500] = "1,2,3"
    path.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    ds = Dataset(str(path), block_bytes=100_000)
    with pytest.raises(ParseError, match=r"bad\.csv, line 150002: cannot parse the row \(Expected 3 columns, got 4"):
        read_all(ds)


def test_csv_value_of_wrong_type_names_line_and_column(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    rows = [f"{i},{i * 0.5}" for i in range(150_000)]  # past the first MB that types are inferred from
    rows[123_456] = "7,oops"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    ds = Dataset(str(path), block_bytes=300_000)
    with pytest.raises(ParseError, match=r"bad\.csv, line 123458, column 'b': value 'oops' is not a valid double"):
        read_all(ds)


def test_bad_json_line(tmp_path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n')
    with pytest.raises(ParseError, match=r"bad\.jsonl, line 3: cannot parse JSON"):
        read_all(Dataset(str(path)))


def test_column_type_differs_between_files(tmp_path) -> None:
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [0, 1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": ["one", "two"], "y": [0, 1]}), tmp_path / "b.parquet")
    with pytest.raises(SchemaError, match=r"Column 'x' is double in .*a\.parquet but string in .*b\.parquet"):
        Dataset(str(tmp_path), target="y")


def test_column_missing_in_one_file(tmp_path) -> None:
    pq.write_table(pa.table({"x": [1.0], "z": [2.0], "y": [0]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"x": [1.0], "y": [0]}), tmp_path / "b.parquet")
    with pytest.raises(SchemaError, match=r"b\.parquet lacks column\(s\) \['z'\]"):
        Dataset(str(tmp_path), target="y")


def test_empty_dataset(tmp_path) -> None:
    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), tmp_path / "empty.parquet")
    with pytest.raises(EmptyDatasetError, match="no rows"):
        Dataset(str(tmp_path / "empty.parquet"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(EmptyDatasetError):
        Dataset(str(tmp_path / "empty.csv"))
    with pytest.raises(EmptyDatasetError):
        Dataset({"x": np.zeros(0)})


def test_corrupt_parquet(tmp_path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": np.arange(1_000.0)}), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match=r"data\.parquet is not a readable Parquet file"):
        Dataset(str(path))


def test_no_usable_feature(tmp_path) -> None:
    pq.write_table(pa.table({"nested": [[1, 2], [3]], "y": [0, 1]}), tmp_path / "d.parquet")
    with pytest.raises(SchemaError, match="no usable feature"):
        Dataset(str(tmp_path), target="y")
    with pytest.raises(SchemaError, match="cannot use as a feature"):
        Dataset(str(tmp_path), target="y", features=["nested"])


def test_missing_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    def missing(protocol, **options):
        raise ImportError(f"Install gcsfs to access {protocol}")

    monkeypatch.setattr(fsspec, "filesystem", missing)
    with pytest.raises(MissingDependencyError, match=r"pip install 'bigfit\[gcs\]'") as info:
        Dataset("gs://bucket/data.parquet")
    assert isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match=r"pip install 'bigfit\[s3\]'"):
        Dataset("s3://bucket/data.parquet")
