"""Arrow <-> numpy for numbers and booleans, equal to pyarrow's and without pandas."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigfit import Dataset
from bigfit.data._arrays import filled_values, from_numpy, raw_values, to_numpy, valid_mask
from tests.conftest import make_table

NUMERIC = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64(),
           pa.float16(), pa.float32(), pa.float64()]


def slices(array: pa.Array) -> list[pa.Array]:
    """The array, and slices of it that start inside a byte of the validity bitmap."""
    return [array, array.slice(3), array.slice(5, 11), array.slice(7, 0)]


@pytest.mark.parametrize("kind", NUMERIC, ids=str)
@pytest.mark.parametrize("nulls", [False, True])
def test_to_numpy_equals_pyarrow(kind: pa.DataType, nulls: bool) -> None:
    rng = np.random.default_rng(0)
    mask = rng.random(40) < 0.3 if nulls else None
    array = pa.array(rng.integers(0, 100, 40), mask=mask).cast(kind)
    for part in slices(array):
        expected = part.to_numpy(zero_copy_only=False)
        got = to_numpy(part)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(valid_mask(part), part.is_valid().to_numpy(zero_copy_only=False))
        valid = valid_mask(part)
        np.testing.assert_array_equal(raw_values(part)[valid], expected[valid])
        filled = filled_values(part, 7)
        np.testing.assert_array_equal(filled[valid], expected[valid])
        assert (filled[~valid] == 7).all()


def test_booleans_of_any_offset() -> None:
    flags = np.random.default_rng(1).random(45) < 0.5
    for part in slices(pa.array(flags)):
        np.testing.assert_array_equal(raw_values(part), part.to_numpy(zero_copy_only=False))
        assert to_numpy(part).dtype == bool
    with_nulls = pa.array([True, None, False])
    assert to_numpy(with_nulls).tolist() == [True, None, False]  # pyarrow's object array
    np.testing.assert_array_equal(valid_mask(with_nulls), [True, False, True])


def test_other_types_go_through_pyarrow() -> None:
    assert to_numpy(pa.array(["a", None])).tolist() == ["a", None]
    with pytest.raises(TypeError, match="numeric or boolean"):
        raw_values(pa.array(["a"]))


def test_from_numpy_round_trips() -> None:
    for values in (np.arange(10, dtype=np.int32), np.linspace(0, 1, 7), np.array([1, 0, 1], bool),
                   np.arange(20, dtype=np.uint64)[::3]):
        array = from_numpy(values)
        assert array.null_count == 0
        assert array.equals(pa.array(values))
    with pytest.raises(ValueError, match="1-d"):
        from_numpy(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="dtype"):
        from_numpy(np.array(["a"]))


_READ_SHARD = """
import pickle, sys
with open(sys.argv[1], "rb") as f:
    shard = pickle.load(f)
rows = sum(len(batch) for batch in shard.batches())
print(rows, "pandas" in sys.modules)
"""


@pytest.mark.parametrize("cached", [False, True])
def test_reading_a_shard_does_not_import_pandas(cached: bool, tmp_path: Path) -> None:
    """A worker process reads, filters and hashes rows without loading pandas (0.2 s, 40 MB)."""
    path = tmp_path / "data.parquet"
    pq.write_table(make_table(2_000, seed=3), path, row_group_size=500)
    data = Dataset(str(path), target="y", weight="w")
    if cached:
        data = data.cache(tmp_path / "cache")
    train, _ = data.split(0.25)
    shard = train.shards(1)[0]
    (tmp_path / "shard.pkl").write_bytes(pickle.dumps(shard))
    done = subprocess.run([sys.executable, "-c", _READ_SHARD, str(tmp_path / "shard.pkl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows, pandas = done.stdout.split()
    assert int(rows) == sum(len(batch) for batch in shard.batches())
    assert pandas == "False"
