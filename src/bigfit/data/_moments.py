"""The compiled loop behind :meth:`bigfit.data.stats.Moments.update` (numba, without the GIL).

numpy needs about ten passes and as many temporary arrays per block of rows (a float64
copy, NaN masks, sums, min, max, centring, squares); this loop reads each block of rows
twice while it stays in the CPU cache: once for the count, sum, min and max of each
column, once for the sum of squares about the block's mean.  Each block then joins the
running statistics by the parallel formula of Chan, Golub and LeVeque, as
``Moments._absorb`` does.  It is about five times faster than numpy, and releases the
GIL so that the read-ahead thread runs beside it.

Two details keep it fast and exact:

- a block is read as rows of at least ``_LANES`` values (``group`` rows of a narrow
  matrix side by side), each value of such a row summed into its own accumulator, so
  that the loop is vectorised and has no chain of dependent additions even for one
  column;
- sums are taken about an anchor per column (its running mean, or else its first finite
  value), so the means the parallel formula subtracts are small and carry no
  cancellation, even for values far from zero.

This module imports numba, so :mod:`bigfit.data.stats` imports it only on first use.
Functions compile on first use (one version for float32, one for float64) and are
cached on disk.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# A block of rows stays in the CPU cache between its two reads.
_BLOCK_BYTES = 1 << 18
_MIN_ROWS, _MAX_ROWS = 16, 1024
# Fewest accumulators per column statistic, so that narrow matrices vectorise too.
_LANES = 32


def update_moments(x: np.ndarray, count: np.ndarray, nulls: np.ndarray, low: np.ndarray,
                   high: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
    """Fold the rows of a matrix into running per-column statistics, in place.

    Parameters
    ----------
    x : ndarray of shape (n_rows, n_features)
        The values, any order or strides; NaN marks a missing value.  float32 values
        are read as they are, any other dtype as float64.
    count, nulls : ndarray of shape (n_features,), int64
        Numbers of non-missing and missing values so far; updated in place.
    low, high : ndarray of shape (n_features,), float64
        Smallest and largest values so far (``inf`` and ``-inf`` before any); updated
        in place.
    mean, m2 : ndarray of shape (n_features,), float64
        Mean, and sum of squared deviations from it, so far (ignored where the count is
        0); updated in place.  A column holding an infinity gets a NaN ``m2`` and an
        infinite or NaN mean, as with numpy.
    """
    if x.size == 0:
        return
    x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    n_features = x.shape[1]
    rows = min(_MAX_ROWS, max(_MIN_ROWS, _BLOCK_BYTES // (x.itemsize * n_features)))
    group = 1
    while group * n_features < _LANES:
        group *= 2
    _update(x.reshape(-1), n_features, group, rows, count, nulls, low, high, mean, m2)


@njit(nogil=True, cache=True)
def _update(flat, n_cols, group, rows, count, nulls, low, high, mean, m2):  # type: ignore[no-untyped-def]
    # ``flat`` is the matrix in C order; lane k of a width-long row holds column k % n_cols.
    # Within the call, means are kept relative to an anchor per column (its running mean,
    # or else its first finite value), so they stay small and exact enough for Chan's
    # formula; the anchor is added back once, at the end.
    n_rows = flat.shape[0] // n_cols
    width = n_cols * group
    anchor = np.zeros(n_cols)
    anchored = np.zeros(n_cols, dtype=np.bool_)
    rel = np.zeros(n_cols)  # running mean minus anchor
    for j in range(n_cols):
        if count[j] > 0:
            anchored[j] = True
            if math.isfinite(mean[j]):
                anchor[j] = mean[j]
            rel[j] = mean[j] - anchor[j]  # not finite after an infinity: kept as it is
    shift = np.empty(width)  # the anchors, per lane
    l_count = np.empty(width, dtype=np.int64)
    l_sum = np.empty(width)
    l_low = np.empty(width)
    l_high = np.empty(width)
    l_mean = np.empty(width)  # block mean minus anchor
    l_m2 = np.empty(width)
    for start in range(0, n_rows, rows):
        stop = min(start + rows, n_rows)
        first, last = start * n_cols, stop * n_cols
        end = first + (last - first) // width * width
        block = flat[first:end].reshape((-1, width))
        tail = flat[end:last].reshape((1, -1))  # fewer than ``group`` whole rows
        for j in range(n_cols):
            if not anchored[j]:
                anchor[j] = _first_finite(flat[first + j:last:n_cols])
        for k in range(width):
            shift[k] = anchor[k % n_cols]
            l_count[k] = 0
            l_sum[k] = 0.0
            l_low[k] = np.inf
            l_high[k] = -np.inf
            l_m2[k] = 0.0
        _first_pass(block, shift, l_count, l_sum, l_low, l_high)
        _first_pass(tail, shift, l_count, l_sum, l_low, l_high)
        for j in range(n_cols):
            for k in range(j + n_cols, width, n_cols):
                l_count[j] += l_count[k]
                l_sum[j] += l_sum[k]
                l_low[j] = min(l_low[j], l_low[k])
                l_high[j] = max(l_high[j], l_high[k])
            l_mean[j] = l_sum[j] / l_count[j] if l_count[j] > 0 else 0.0
        for k in range(n_cols, width):
            l_mean[k] = l_mean[k % n_cols]
        _second_pass(block, shift, l_mean, l_m2)
        _second_pass(tail, shift, l_mean, l_m2)
        for j in range(n_cols):
            for k in range(j + n_cols, width, n_cols):
                l_m2[j] += l_m2[k]
            nb = l_count[j]
            nulls[j] += (stop - start) - nb
            if nb == 0:  # an empty side leaves the other untouched
                continue
            low[j] = min(low[j], l_low[j])
            high[j] = max(high[j], l_high[j])
            na = count[j]
            count[j] = na + nb
            anchored[j] = True
            if na == 0:
                rel[j] = l_mean[j]
                m2[j] = l_m2[j]
                continue
            n = np.float64(na + nb)
            delta = l_mean[j] - rel[j]
            rel[j] = rel[j] + delta * (nb / n)
            m2[j] = m2[j] + l_m2[j] + delta * delta * (np.float64(na) * nb / n)
    for j in range(n_cols):
        if count[j] > 0:
            mean[j] = anchor[j] + rel[j]


@njit(nogil=True, cache=True)
def _first_finite(values):  # type: ignore[no-untyped-def]
    for v in values:
        if math.isfinite(v):
            return np.float64(v)
    return 0.0


@njit(nogil=True, cache=True)
def _first_pass(block, shift, count, total, low, high):  # type: ignore[no-untyped-def]
    # Branch-free, so that it vectorises: NaN fails every comparison.
    for i in range(block.shape[0]):
        for k in range(block.shape[1]):
            v = np.float64(block[i, k])
            seen = v == v
            count[k] += seen
            total[k] += (v - shift[k]) if seen else 0.0
            low[k] = v if v < low[k] else low[k]
            high[k] = v if v > high[k] else high[k]


@njit(nogil=True, cache=True)
def _second_pass(block, shift, mean, m2):  # type: ignore[no-untyped-def]
    for i in range(block.shape[0]):
        for k in range(block.shape[1]):
            v = np.float64(block[i, k])
            d = (v - shift[k]) - mean[k]
            m2[k] += d * d if v == v else 0.0
