"""Decoded shards of cached datasets stay in the object store: later passes never touch the files."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bigfit import Dataset
from bigfit.data.shards import Shard
from bigfit.engine import get_engine
from bigfit.engine.ray import RayEngine
from bigfit.engine.ray._block_cache import BlockCache
from bigfit.exceptions import DataNotFoundError, TaskError


def _write(folder: Path, rows: int = 4_000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / "d.parquet"
    pq.write_table(pa.table({
        "a": rng.normal(size=rows), "b": rng.normal(size=rows),
        "city": rng.choice(["paris", "lima", "oslo"], rows),
        "label": rng.choice(["cat", "dog"], rows),
    }), path, row_group_size=500)
    return path


def _totals(shard: Shard, _: object) -> np.ndarray:
    """Sums that see every field of every row: features, hashes, labels, row ids."""
    total = np.zeros(5)
    for batch in shard.batches():
        total += [batch.X.sum(dtype=np.float64), len(batch), float(batch.hashes.sum() % 1_000_003),
                  float((batch.y == "cat").sum()), float(batch.row_id.sum() % 1_000_003)]
    return total


def _first_batch_rows(shard: Shard) -> int:
    return len(next(iter(shard.batches(batch_size=100))))


@pytest.fixture
def engine(ray_runtime: None) -> Iterator[RayEngine]:
    with RayEngine() as engine:  # its own block cache, on the shared runtime
        yield engine


def test_later_passes_read_the_object_store_not_the_files(tmp_path: Path, engine: RayEngine) -> None:
    path = _write(tmp_path)
    ds = Dataset(path, target="label").cache()
    shards = ds.shards(4)
    expected = get_engine("local").map_reduce(_totals, ds.shards(4), operator.add)
    first = engine.map_reduce(_totals, shards, operator.add)
    path.unlink()  # a pass that opened the files would fail now
    second = engine.map_reduce(_totals, shards, operator.add)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)


def test_both_sides_of_a_split_share_the_blocks(tmp_path: Path, engine: RayEngine) -> None:
    path = _write(tmp_path, seed=1)
    train, valid = Dataset(path, target="label").split(0.25, seed=2)
    expected = [get_engine("local").map_reduce(_totals, side.cache().shards(4), operator.add)
                for side in (train, valid)]
    engine.map_reduce(_totals, train.cache().shards(4), operator.add)  # builds the blocks
    path.unlink()
    got = [engine.map_reduce(_totals, side.cache().shards(4), operator.add) for side in (train, valid)]
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])  # the validation rows, from train's blocks
    assert got[0][1] + got[1][1] == 4_000


def test_a_shard_read_in_part_is_not_kept(tmp_path: Path, engine: RayEngine) -> None:
    path = _write(tmp_path, seed=3)
    shards = Dataset(path, target="label").cache().shards(2)
    assert engine.map(_first_batch_rows, shards) == [100, 100]
    path.unlink()
    with pytest.raises(DataNotFoundError, match=r"d\.parquet.*no longer exists.*in task \d on Shard\(\d"):
        engine.map_reduce(_totals, shards, operator.add)


def test_without_the_cache_passes_read_the_files(tmp_path: Path, ray_runtime: None) -> None:
    path = _write(tmp_path, seed=4)
    shards = Dataset(path, target="label").cache().shards(2)
    with RayEngine(cache_fraction=0) as engine:
        engine.map_reduce(_totals, shards, operator.add)
        path.unlink()
        with pytest.raises(DataNotFoundError, match="no longer exists"):
            engine.map_reduce(_totals, shards, operator.add)


def test_dataset_without_cache_is_read_from_files_each_pass(tmp_path: Path, engine: RayEngine) -> None:
    path = _write(tmp_path, seed=5)
    shards = Dataset(path, target="label").shards(2)  # no cache(): nothing kept
    engine.map_reduce(_totals, shards, operator.add)
    path.unlink()
    with pytest.raises(TaskError, match=r"FileNotFoundError.*d\.parquet"):
        engine.map_reduce(_totals, shards, operator.add)


class TestBlockCache:
    def test_blocks_fit_the_capacity(self) -> None:
        cache = BlockCache(100)
        cache.begin_call()
        assert cache.reserve("a", 40) and cache.reserve("b", 40)
        assert not cache.reserve("c", 40)  # the current call's blocks are never evicted for it
        cache.commit("a", "ref-a", 45)
        cache.cancel("b")
        assert cache.get("a") == "ref-a" and cache.get("b") is None
        assert cache.nbytes == 45 and len(cache) == 1

    def test_least_recently_used_goes_first(self) -> None:
        cache = BlockCache(100)
        cache.begin_call()
        for key in "abc":
            assert cache.reserve(key, 30)
            cache.commit(key, f"ref-{key}", 30)
        cache.begin_call()
        assert cache.get("a") == "ref-a"  # b is now the least recently used
        assert cache.reserve("d", 30)
        assert cache.get("b") is None
        assert [cache.get(key) for key in "acd"] == ["ref-a", "ref-c", None]

    def test_a_key_is_built_once_and_too_large_blocks_are_refused(self) -> None:
        cache = BlockCache(100)
        cache.begin_call()
        assert cache.reserve("a", 10)
        assert not cache.reserve("a", 10)  # already being built
        assert not cache.reserve("huge", 101)
        cache.clear()
        assert cache.nbytes == 0
