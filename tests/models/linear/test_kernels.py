"""The compiled loops over categorical codes against numpy references."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bigfit.models.linear._kernels import add_rows, add_to_rows, index_codes


def random_codes(rng: np.random.Generator, n: int, columns: int, n_codes: int) -> np.ndarray:
    """Codes from a few popular values per column, as hashed categoricals look."""
    popular = rng.integers(0, n_codes, size=(columns, 7))
    return popular[np.arange(columns), rng.integers(0, 7, size=(n, columns))].astype(np.int32)


@pytest.mark.parametrize("n_codes", [10, 2**18])
def test_index_codes_gives_distinct_codes_and_ranks_batch_after_batch(n_codes) -> None:
    rng = np.random.default_rng(0)
    for n in (1, 5, 300, 300, 2048):  # slots keep stale ranks from the batches before
        codes = random_codes(rng, n, 3, n_codes)
        distinct, ranks = index_codes(codes, n_codes)
        np.testing.assert_array_equal(np.sort(distinct), np.unique(codes))
        np.testing.assert_array_equal(distinct[ranks], codes)
        assert distinct.dtype == np.intp and ranks.shape == codes.shape
    columns = random_codes(rng, 50, 4, n_codes)[:, ::2]  # not contiguous
    distinct, ranks = index_codes(columns, n_codes)
    np.testing.assert_array_equal(distinct[ranks], columns)


def test_index_codes_in_threads_at_once() -> None:
    rng = np.random.default_rng(1)
    batches = [random_codes(rng, 4096, 2, 2**16) for _ in range(32)]

    def check(codes: np.ndarray) -> bool:
        distinct, ranks = index_codes(codes, 2**16)
        return bool((distinct[ranks] == codes).all()) and len(distinct) == len(np.unique(codes))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(check, batches))


@pytest.mark.parametrize("k", [1, 3])
def test_rows_are_gathered_and_scattered_like_numpy(k) -> None:
    rng = np.random.default_rng(2)
    codes = random_codes(rng, 500, 3, 40)
    table = rng.normal(size=(40, k))
    z = rng.normal(size=(500, k))
    expected = z + table[codes].sum(axis=1)
    add_rows(z, table, codes)
    np.testing.assert_allclose(z, expected, rtol=1e-13)

    dz = rng.normal(size=(500, k))
    expected = table.copy()
    for j in range(codes.shape[1]):
        np.add.at(expected, codes[:, j], dz)
    add_to_rows(table, codes, dz)
    np.testing.assert_allclose(table, expected, rtol=1e-12, atol=1e-12)
