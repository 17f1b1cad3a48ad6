"""The one-pass profile behind ``bigfit inspect``: exact against numpy, same on every engine."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from bigfit import Dataset
from bigfit.data.profile import profile
from bigfit.engine import get_engine
from bigfit.exceptions import ParseError


def test_statistics_match_numpy(parquet_dir: str, table: pa.Table) -> None:
    summary = profile(Dataset(parquet_dir, target="y", weight="w"))
    columns = {c.name: c for c in summary.columns}
    assert summary.rows == table.num_rows and summary.files == 3 and summary.format == "parquet"
    for name in ("a", "b", "c", "w", "y"):
        values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        column = columns[name]
        assert column.missing == np.isnan(values).sum() == table.column(name).null_count
        assert column.min == np.nanmin(values) and column.max == np.nanmax(values)
        assert column.mean == pytest.approx(np.nanmean(values), rel=1e-12)
        assert column.std == pytest.approx(np.nanstd(values), rel=1e-12)
    assert [columns[n].role for n in ("a", "city", "when", "w", "y")] == \
        ["numeric", "categorical", "datetime", "weight", "target"]
    assert columns["city"].distinct == 4 and columns["flag"].distinct == 2
    assert columns["when"].min.startswith("2024-01-01")
    counts = np.bincount(table.column("y").to_numpy())
    assert dict(summary.class_balance) == {"0": counts[0], "1": counts[1]}
    assert sum(summary.shard_rows) == table.num_rows


def test_same_statistics_on_local_and_a_process_pool(parquet_dir: str) -> None:
    ds = Dataset(parquet_dir, target="y")
    with get_engine("local[2]") as pool:
        parallel = profile(ds, engine=pool, shards=6)
    serial = profile(ds, engine="local", shards=6)
    assert parallel.engine == "local[2]" and serial.engine == "local"
    assert parallel.columns == serial.columns  # exact: the combine tree is fixed by position
    assert parallel.class_balance == serial.class_balance
    assert parallel.shard_rows == serial.shard_rows == [1_000] * 6


def test_string_target_balance_and_text_format(tmp_path, table: pa.Table) -> None:
    labelled = table.set_column(table.schema.get_field_index("y"), "y",
                                pa.array(np.where(table.column("y").to_numpy() == 1, "fraud", "ok")))
    path = tmp_path / "d.csv"
    pacsv.write_csv(labelled, path)
    summary = profile(Dataset(str(path), target="y", block_bytes=64_000), shards=5)
    assert summary.rows == table.num_rows and len(summary.shard_rows) == 5
    assert {label for label, _ in summary.class_balance} == {"fraud", "ok"}
    assert summary.to_dict()["shards"]["count"] == 5


def test_continuous_target_has_no_class_balance() -> None:
    summary = profile(Dataset({"x": np.arange(1_000.0), "y": np.random.default_rng(0).normal(size=1_000)},
                              target="y"))
    assert summary.class_balance is None


def test_bad_row_names_the_shard_and_line(tmp_path) -> None:
    rows = [f"{i},{i}" for i in range(100_000)]
    rows[90_000] = "1,2,3"
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(ParseError, match=r"bad\.csv, line 90002.*\(in task \d+ on Shard\(\d+: bad\.csv bytes"):
        profile(Dataset(str(path), block_bytes=100_000))
