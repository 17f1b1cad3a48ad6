"""Holdout split, shuffling, read-ahead and the memory budget."""

from __future__ import annotations

import numpy as np
import pytest

from bigfit import Dataset, config_context
from bigfit.data.budget import MAX_BATCH, MIN_BATCH
from tests.conftest import collect


@pytest.fixture(scope="module")
def dataset(parquet_dir: str) -> Dataset:
    return Dataset(parquet_dir, target="y")


def ids(stream) -> np.ndarray:
    return collect(stream).row_id


def test_split_is_disjoint_and_complete(dataset: Dataset) -> None:
    train, valid = dataset.split(validation=0.2, seed=3)
    train_ids, valid_ids = ids(train.batches()), ids(valid.batches())
    assert not np.intersect1d(train_ids, valid_ids).size
    assert len(train_ids) + len(valid_ids) == dataset.num_rows
    assert 0.17 < len(valid_ids) / dataset.num_rows < 0.23


def test_split_is_stable_across_shards_batches_and_epochs(dataset: Dataset) -> None:
    _, valid = dataset.split(validation=0.1, seed=7)
    expected = ids(valid.batches())
    for n, size in [(1, 100), (5, 999), (12, 64)]:
        got = ids(b for s in valid.shards(n) for b in s.batches(size))
        np.testing.assert_array_equal(got, expected)
    for epoch in range(2):
        np.testing.assert_array_equal(np.sort(ids(valid.batches(shuffle=True, epoch=epoch))), expected)
    _, again = Dataset(dataset.files, target="y").split(validation=0.1, seed=7)
    np.testing.assert_array_equal(ids(again.batches()), expected)
    _, other = dataset.split(validation=0.1, seed=8)
    assert not np.array_equal(ids(other.batches()), expected)


def test_split_by_key_keeps_groups_together(table) -> None:
    ds = Dataset(table, target="y")
    train, valid = ds.split(validation=0.5, key="b")  # ten distinct values
    in_train = {v for b in train.batches() for v in b.X[:, 1]}
    in_valid = {v for b in valid.batches() for v in b.X[:, 1]}
    assert in_train and in_valid and not in_train & in_valid
    assert len(in_train | in_valid) == 10


def test_split_rejects_bad_input(dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="'validation' parameter"):
        dataset.split(validation=1.5)
    with pytest.raises(ValueError, match="not in the dataset"):
        dataset.split(key="nope")
    with pytest.raises(ValueError, match="already one side"):
        dataset.split()[0].split()


def test_shuffle_is_reproducible_and_complete(dataset: Dataset) -> None:
    def order(epoch: int, seed: int = 0) -> np.ndarray:
        return np.concatenate([b.row_id for b in dataset.batches(500, shuffle=True, seed=seed,
                                                                  epoch=epoch, shuffle_buffer=2_000)])
    first = order(0)
    np.testing.assert_array_equal(first, order(0))
    assert not np.array_equal(first, order(1)) and not np.array_equal(first, order(0, seed=1))
    np.testing.assert_array_equal(np.sort(first), np.sort(ids(dataset.batches())))
    plain = np.concatenate([b.row_id for b in dataset.batches(500)])
    assert not np.array_equal(first, plain)


def test_prefetch_propagates_errors_and_stops_early(dataset: Dataset) -> None:
    from bigfit.data.prefetch import prefetch

    def failing():
        yield 1
        raise RuntimeError("boom")

    stream = prefetch(failing(), 2)
    assert next(stream) == 1
    with pytest.raises(RuntimeError, match="boom"):
        next(stream)
    batches = dataset.batches(100, prefetch=3)
    next(batches)
    batches.close()  # must not hang


@pytest.mark.parametrize("prefetch", [0, 2])
def test_batches_are_transformed_in_the_read_ahead_thread(dataset: Dataset, prefetch: int) -> None:
    plain = list(dataset.batches(300, shuffle=True, seed=3))
    doubled = list(dataset.batches(300, shuffle=True, seed=3, prefetch=prefetch,
                                   transform=lambda b: b.replace(X=2 * b.X)))
    assert len(doubled) == len(plain)
    for before, after in zip(plain, doubled, strict=True):
        np.testing.assert_array_equal(after.X, 2 * before.X)
        np.testing.assert_array_equal(after.row_id, before.row_id)

    def refuse(batch):
        raise ValueError(f"cannot use {len(batch)} rows")

    with pytest.raises(ValueError, match="cannot use 300 rows"):
        next(dataset.batches(300, prefetch=prefetch, transform=refuse))


def test_memory_budget_sets_batch_size(parquet_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    small = Dataset(parquet_dir, target="y", memory_limit="64MB")
    large = Dataset(parquet_dir, target="y", memory_limit="8GB")
    assert MIN_BATCH <= small.batch_size < large.batch_size == MAX_BATCH
    assert small.budget.prefetch == 1 and large.budget.prefetch == 2
    monkeypatch.setenv("BIGFIT_MEMORY_LIMIT", "64MB")
    assert Dataset(parquet_dir, target="y").batch_size == small.batch_size
    monkeypatch.delenv("BIGFIT_MEMORY_LIMIT")
    with config_context(memory_limit="64MB"):
        assert Dataset(parquet_dir, target="y").batch_size == small.batch_size
    with pytest.raises(ValueError, match="memory size"):
        Dataset(parquet_dir, memory_limit="lots")
