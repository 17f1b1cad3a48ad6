"""The binary cache: same batches as decoding, no source reads once built, invalidation."""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from bigfit import Dataset
from bigfit.data.batch import Batch
from bigfit.data.cache import CachingReader, _entry, _location
from bigfit.data.cache._files import META
from bigfit.data.formats import CsvFormat, ParquetFormat
from bigfit.exceptions import InvalidParameterError
from tests.conftest import collect, make_table

N = 3_000


def assert_same(got: Batch, expected: Batch) -> None:
    np.testing.assert_array_equal(got.X, expected.X)
    np.testing.assert_array_equal(got.hashes, expected.hashes)
    np.testing.assert_array_equal(got.w, expected.w)
    np.testing.assert_array_equal(got.row_id, expected.row_id)
    assert got.y.dtype == expected.y.dtype
    np.testing.assert_array_equal(got.y, expected.y)


def entries(root: Path) -> list[Path]:
    """Complete cache entries under ``root``."""
    return sorted(meta.parent for meta in root.rglob(META))


def n_pieces(ds: Dataset) -> int:
    return sum(len(shard.pieces) for shard in ds.shards())


def litter(root: Path) -> list[Path]:
    """Temporary (hidden) directories left under ``root``."""
    return [p for p in root.rglob(".*") if p.is_dir()]


@pytest.fixture
def parquet_file(tmp_path: Path) -> str:
    path = tmp_path / "data.parquet"
    pq.write_table(make_table(N, seed=1), path, row_group_size=400)
    return str(path)


@pytest.fixture
def csv_file(tmp_path: Path) -> str:
    table = make_table(N, seed=2).drop(["when"])
    table = table.append_column("label", table.column("city"))
    path = tmp_path / "data.csv"
    pacsv.write_csv(table, path)
    return str(path)


def open_dataset(kind: str, parquet_file: str, csv_file: str, **options) -> Dataset:
    if kind == "parquet":
        return Dataset(parquet_file, target="y", weight="w", **options)
    return Dataset(csv_file, target="label", weight="w", block_bytes=40_000, **options)


def forbid_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every file read fail, so a pass that decodes is caught."""
    def fail(*args, **kwargs):
        raise AssertionError("the source was read")

    monkeypatch.setattr(ParquetFormat, "read", fail)
    monkeypatch.setattr(CsvFormat, "read", fail)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_cached_passes_equal_decoding(kind: str, parquet_file: str, csv_file: str,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = open_dataset(kind, parquet_file, csv_file)
    cached = ds.cache(tmp_path / "cache")
    assert isinstance(cached._reader, CachingReader) and not isinstance(ds._reader, CachingReader)
    expected = list(ds.batches(batch_size=500))
    first = list(cached.batches(batch_size=500))
    assert len(entries(tmp_path / "cache")) == n_pieces(ds)
    forbid_reads(monkeypatch)
    second = list(cached.batches(batch_size=500))
    assert_same(collect(first), collect(expected))
    assert_same(collect(second), collect(expected))
    if kind == "parquet":  # same batch boundaries too
        assert [len(b) for b in second] == [len(b) for b in expected]
        for got, want in zip(second, expected, strict=True):
            assert_same(got, want)
    assert not second[0].X.flags.writeable  # views of the mapped files


def test_string_target_is_stored_as_codes(csv_file: str, tmp_path: Path) -> None:
    ds = Dataset(csv_file, target="label", block_bytes=40_000)
    cached = ds.cache(tmp_path / "cache")
    list(cached.batches())
    for entry in entries(tmp_path / "cache"):
        rows = json.loads((entry / META).read_text())["rows"]
        assert (entry / "y.bin").stat().st_size == 4 * rows  # int32 codes
    y = collect(cached.batches()).y
    assert y.dtype == object and set(y) == {"paris", "lima", "oslo", "pune"}


def test_integer_target_meeting_nulls_is_promoted(tmp_path: Path) -> None:
    y = pa.array([1, 2] * 1000 + [None] + [3] * 999, pa.int64())
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": np.arange(3000.0), "y": y}), path, row_group_size=1000)
    ds = Dataset(str(path), target="y")
    cached = ds.cache(tmp_path / "cache")
    expected = collect(ds.batches(batch_size=500)).y.astype(np.float64)
    for _ in range(2):
        got = collect(cached.batches(batch_size=500)).y
        np.testing.assert_array_equal(got.astype(np.float64), expected)


def test_shuffled_batches_equal_decoding(parquet_file: str, tmp_path: Path) -> None:
    ds = Dataset(parquet_file, target="y", weight="w")
    cached = ds.cache(tmp_path / "cache")
    list(cached.batches())
    expected = Batch.concat(list(ds.batches(batch_size=300, shuffle=True, seed=3, epoch=1)))
    got = Batch.concat(list(cached.batches(batch_size=300, shuffle=True, seed=3, epoch=1)))
    assert_same(got, expected)


def test_cached_shuffle_gathers_each_window_of_one_side(parquet_file: str, tmp_path: Path) -> None:
    train, _ = Dataset(parquet_file, target="y", weight="w").cache(tmp_path / "cache").split(
        validation=0.2, seed=1)
    plain = Batch.concat(list(train.batches(batch_size=250)))  # builds the cache entry

    def read(epoch: int) -> Batch:
        return Batch.concat(list(train.batches(batch_size=250, shuffle=True, seed=5, epoch=epoch,
                                               shuffle_buffer=1_000)))

    first = read(0)
    assert_same(read(0), first)
    assert not np.array_equal(first.row_id, read(1).row_id)
    assert not np.array_equal(first.row_id, plain.row_id)
    assert_same(first.take(np.argsort(first.row_id)), plain.take(np.argsort(plain.row_id)))
    # Rows move only within their window of 1000 rows of the piece (about 800 training rows).
    position = {int(r): i for i, r in enumerate(plain.row_id)}
    windows = np.array([position[int(r)] // 800 for r in first.row_id[:600]])
    assert windows.max() <= 1 and windows[:400].max() == 0


def test_failed_cache_write_raises_and_leaves_no_entry(parquet_file: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from bigfit.data.cache import _writer

    def full(self, values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_writer._ArrayFile, "write", full)
    cached = Dataset(parquet_file, target="y", weight="w").cache(tmp_path / "cache")
    with pytest.raises(OSError, match="No space left"):
        list(cached.batches())
    assert entries(tmp_path / "cache") == []
    monkeypatch.undo()
    assert_same(collect(cached.batches()), collect(Dataset(parquet_file, target="y",
                                                           weight="w").batches()))


def test_changed_source_is_decoded_again(parquet_file: str, tmp_path: Path) -> None:
    ds = Dataset(parquet_file, target="y", weight="w")
    cached = ds.cache(tmp_path / "cache")
    before = collect(cached.batches())
    old_entries = entries(tmp_path / "cache")
    table = make_table(N, seed=1)
    table = table.set_column(0, "a", pa.array(np.arange(N, dtype=np.float64)))
    pq.write_table(table, parquet_file, row_group_size=400, compression="gzip")
    after = collect(cached.batches())
    assert_same(after, collect(ds.batches()))
    assert not np.array_equal(after.X[:, 0], before.X[:, 0])
    new_entries = entries(tmp_path / "cache")
    assert len(new_entries) == len(old_entries) and not set(new_entries) & set(old_entries)
    assert [p.name for p in new_entries[0].parent.iterdir()] == [new_entries[0].name]


def test_early_close_leaves_no_entry(parquet_file: str, tmp_path: Path) -> None:
    cached = Dataset(parquet_file, target="y").cache(tmp_path / "cache")
    stream = cached.shards(1)[0].batches(batch_size=100)
    next(stream)
    assert litter(tmp_path / "cache")  # the entry is being built
    stream.close()
    gc.collect()
    assert entries(tmp_path / "cache") == [] and litter(tmp_path / "cache") == []

    with_read_ahead = cached.batches(batch_size=100, prefetch=2)
    next(with_read_ahead)
    with_read_ahead.close()
    del with_read_ahead
    gc.collect()
    assert entries(tmp_path / "cache") == [] and litter(tmp_path / "cache") == []
    assert len(collect(cached.batches())) == N and len(entries(tmp_path / "cache")) == 1


def test_concurrent_builds_of_one_piece(parquet_file: str, tmp_path: Path) -> None:
    cached = Dataset(parquet_file, target="y", weight="w").cache(tmp_path / "cache")
    shard = cached.shards(1)[0]
    first, second = shard.batches(batch_size=700), shard.batches(batch_size=700)
    got_first, got_second = [next(first)], [next(second)]
    got_first += list(first)
    got_second += list(second)
    assert_same(collect(got_first), collect(got_second))
    assert len(entries(tmp_path / "cache")) == 1 and litter(tmp_path / "cache") == []
    assert_same(collect(shard.batches()), collect(got_first))


def test_damaged_entry_is_rebuilt(parquet_file: str, tmp_path: Path) -> None:
    cached = Dataset(parquet_file, target="y", weight="w").cache(tmp_path / "cache")
    expected = collect(cached.batches())
    x_file = entries(tmp_path / "cache")[0] / "X.bin"
    x_file.write_bytes(x_file.read_bytes()[:1000])
    assert_same(collect(cached.batches()), expected)
    assert x_file.stat().st_size > 1000


@pytest.mark.parametrize("key", [None, "b"])
@pytest.mark.parametrize("cache_first", [True, False])
def test_holdout_views_share_one_cache(key: str | None, cache_first: bool, parquet_file: str,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = Dataset(parquet_file, target="y", weight="w")
    expected = [collect(side.batches(batch_size=256)) for side in ds.split(0.3, key=key)]
    if cache_first:
        sides = ds.cache(tmp_path / "cache").split(0.3, key=key)
    else:
        sides = tuple(side.cache(tmp_path / "cache") for side in ds.split(0.3, key=key))
    assert_same(collect(sides[0].batches(batch_size=256)), expected[0])
    forbid_reads(monkeypatch)  # the validation side reads the cache the training side built
    for _ in range(2):
        for side, want in zip(sides, expected, strict=True):
            assert_same(collect(side.batches(batch_size=256)), want)
    assert len(entries(tmp_path / "cache")) == n_pieces(ds)


@pytest.fixture
def cache_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Point the memory cache and the disk cache into ``tmp_path``."""
    monkeypatch.setattr(_location, "SHM", tmp_path / "shm")
    monkeypatch.setattr(_location, "_session", None)
    monkeypatch.setenv("BIGFIT_CACHE_DIR", str(tmp_path / "disk"))
    (tmp_path / "shm").mkdir()
    return tmp_path / "shm", tmp_path / "disk"


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_placement_follows_the_budget(kind: str, parquet_file: str, csv_file: str,
                                      cache_places: tuple[Path, Path]) -> None:
    shm, disk = cache_places
    roomy = open_dataset(kind, parquet_file, csv_file, memory_limit="1GB").cache()
    tiny = open_dataset(kind, parquet_file, csv_file, memory_limit="64KB").cache()
    assert Path(roomy._reader.directory).is_relative_to(shm)
    assert Path(tiny._reader.directory) == disk
    assert roomy._reader.in_memory and not tiny._reader.in_memory
    assert Path(roomy.cache("disk")._reader.directory) == disk
    assert Path(tiny.cache("memory")._reader.directory) == Path(roomy._reader.directory)
    assert len(collect(roomy.batches())) == N and entries(shm)


def test_memory_cache_stays_mapped_between_passes(parquet_file: str, cache_places: tuple[Path, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    maps: list[Path] = []
    original = _entry._map
    monkeypatch.setattr(_entry, "_map", lambda entry, meta: maps.append(entry) or original(entry, meta))
    monkeypatch.setattr(_entry, "_kept", {})
    ds = Dataset(parquet_file, target="y", weight="w")
    in_memory, on_disk = ds.cache("memory"), ds.cache("disk")
    expected = collect(ds.batches())
    for _ in range(3):
        assert_same(collect(in_memory.batches()), expected)
        assert_same(collect(on_disk.batches()), expected)
    pieces = n_pieces(ds)
    kept = set(_entry._kept)
    assert kept == set(entries(Path(in_memory._reader.directory))) and len(kept) == pieces
    # Built on the first pass, then mapped once (memory) or on each later pass (disk).
    assert sorted(maps) == sorted([*kept, *2 * entries(cache_places[1])])
    table = make_table(N, seed=1).set_column(0, "a", pa.array(np.arange(N, dtype=np.float64)))
    pq.write_table(table, parquet_file, row_group_size=400)
    collect(in_memory.batches())  # rebuilds every entry
    collect(in_memory.batches())
    assert len(_entry._kept) == pieces and not set(_entry._kept) & kept

def test_memory_session_is_removed_with_its_process(cache_places: tuple[Path, Path]) -> None:
    shm, _ = cache_places
    base = _location.memory_base()
    base.mkdir(parents=True)
    dead = base / f"999999999-{_location._host()}-abcd"
    elsewhere = base / "999999999-another_host-abcd"
    elsewhere.mkdir()
    (dead / "piece").mkdir(parents=True)
    session = _location.memory_session()
    assert session.parent == base and not dead.exists() and elsewhere.exists()
    _location._remove_session(session, os.getpid())
    assert not session.exists()


def test_bad_locations(parquet_file: str) -> None:
    ds = Dataset(parquet_file, target="y")
    for location in ("s3://bucket/cache", 3):
        with pytest.raises(InvalidParameterError, match="location"):
            ds.cache(location)  # type: ignore[arg-type]
    table = Dataset({"x": np.arange(4.0)})
    assert table.cache() is table


_WORKER = """
import pickle, sys
import numpy as np
from bigfit.data.formats import ParquetFormat

def fail(*args, **kwargs):
    raise AssertionError("the source was read")

ParquetFormat.read = fail
with open(sys.argv[1], "rb") as f:
    shard = pickle.load(f)
ids = np.concatenate([b.row_id for b in shard.batches()])
print(len(ids), int(ids.sum(dtype=np.uint64)))
"""


def test_pickled_shard_reads_the_cache_in_another_process(parquet_file: str,
                                                          tmp_path: Path) -> None:
    train, _ = Dataset(parquet_file, target="y", weight="w").cache(tmp_path / "cache").split(0.2)
    shard = train.shards(2)[1]
    ids = np.concatenate([b.row_id for b in shard.batches()])
    payload = pickle.dumps(shard)
    assert len(payload) < 8_000
    (tmp_path / "shard.pkl").write_bytes(payload)
    done = subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path / "shard.pkl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(len(ids)), str(int(ids.sum(dtype=np.uint64)))]


def test_fsspec_url_is_cached_and_invalidated(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    url = f"memory://bigfit-cache-test/{tmp_path.name}/data.parquet"

    def write(seed: int) -> None:
        with memory.open(url, "wb") as f:
            pq.write_table(make_table(1_000, seed=seed), f, row_group_size=250)

    write(0)
    ds = Dataset(url, target="y")
    cached = ds.cache(tmp_path / "cache")
    assert_same(collect(cached.batches()), collect(ds.batches()))
    write(1)
    assert_same(collect(cached.batches()), collect(ds.batches()))
    assert len(entries(tmp_path / "cache")) == 1
    memory.rm(url)


@pytest.mark.parametrize("place", ["disk", "memory"])
@pytest.mark.parametrize("missing", [False, True])
def test_holdout_weights_keep_cached_views_with_zero_weight(missing: bool, place: str,
                                                            cache_places: tuple[Path, Path],
                                                            tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``holdout_weights`` reads the other side's rows with weight 0 instead of copying
    them out, unless one of their values is missing: then the batch is copied as usual.
    A memory cache remembers which batches may keep them."""
    monkeypatch.setattr(_entry, "_kept", {})
    table = make_table(N, seed=3)
    if not missing:
        table = table.drop(["c"])  # the one column with nulls
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=400)
    train, valid = Dataset(str(path), target="y", weight="w").cache(place).split(0.2)
    expected = collect(train.batches(batch_size=256))  # builds the cache
    checks = []
    may_weigh_out = _entry._may_weigh_out
    monkeypatch.setattr(_entry, "_may_weigh_out", lambda *a: checks.append(1) or may_weigh_out(*a))
    for repeat in range(2):
        got = [b for shard in train.shards() for b in shard.batches(256, holdout_weights=True)]
        rows = collect(got)
        kept = rows.w > 0
        assert_same(rows.take(kept), expected)  # the same rows, order and weights
        assert np.isfinite(rows.X[~kept]).all()
        if missing:  # batches whose other-side rows hold a NaN are copied without them
            assert any(b.X.flags.owndata and (b.w > 0).all() for b in got)
        else:
            assert len(rows) == N and not any(b.X.flags.owndata for b in got)  # views
    assert len(checks) == len(got) * (1 if place == "memory" else 2)
    # The validation side is a fifth of each batch: copied out, not computed on in place.
    small = [b for shard in valid.shards() for b in shard.batches(256, holdout_weights=True)]
    assert_same(collect(small), collect(valid.batches(batch_size=256)))
    assert all(b.X.flags.owndata and (b.w > 0).all() for b in small)
    uncached = Dataset(str(path), target="y", weight="w").split(0.2)[0]
    plain = collect([b for s in uncached.shards() for b in s.batches(256, holdout_weights=True)])
    assert_same(plain, expected)  # a reader without a cache removes them
