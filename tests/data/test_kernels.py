"""The data layer's compiled loops: row gathers and splitmix64 hashing."""

import subprocess
import sys

import numpy as np
import pytest

from bigfit.data._hashing import mix64
from bigfit.data._kernels import take_rows


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint64, np.int8])
@pytest.mark.parametrize("width", [1, 3, 16, 50, 67])
def test_take_rows_equals_np_take(dtype, width):
    rng = np.random.default_rng(width)
    values = rng.integers(0, 100, size=(1_000, width)).astype(dtype)
    index = rng.permutation(1_000)[:777]
    for rows in (index, index.astype(np.int32), np.array([999, 0, 999])):
        taken = take_rows(values, rows)
        assert taken.dtype == values.dtype
        np.testing.assert_array_equal(taken, np.take(values, rows, axis=0))


def test_take_rows_into_out_and_of_any_layout():
    values = np.random.default_rng(0).random((500, 9))
    index = np.array([4, 2, 499])
    out = np.empty((3, 9))
    assert take_rows(values, index, out) is out
    np.testing.assert_array_equal(out, values[index])
    np.testing.assert_array_equal(take_rows(values[:, ::2], index), values[index][:, ::2])
    np.testing.assert_array_equal(take_rows(np.asfortranarray(values), index), values[index])
    assert take_rows(values, np.array([], dtype=np.int64)).shape == (0, 9)
    assert take_rows(np.zeros((5, 0)), index[:2]).shape == (2, 0)


@pytest.mark.parametrize("index", [[500], [-1], [0, 3, 1_000_000]])
def test_take_rows_refuses_rows_out_of_range(index):
    with pytest.raises(IndexError, match=r"\[0, 500\)"):
        take_rows(np.zeros((500, 4)), np.array(index))


def test_mix64_gives_the_published_splitmix64_sequence():
    """splitmix64 from state 0 outputs these (Vigna's reference generator)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        states = np.arange(3, dtype=np.uint64) * golden
    assert [hex(v) for v in mix64(states, seed=0).tolist()] == [
        "0xe220a8397b1dcdaf", "0x6e789e6aa1b965f4", "0x6c45d188009454f"]


def test_hashing_does_not_import_numba_until_used():
    """numba takes a quarter of a second to import; only hashing values needs it."""
    code = ("import sys, bigfit.data, bigfit.data.cache, bigfit.data.transforms, "
            "bigfit.data._hashing; print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
