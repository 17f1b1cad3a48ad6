"""Compiled loops over the categorical codes of a batch (numba, without the GIL).

A batch's categorical part touches a few rows of a large coefficient table (one row per
code: 2**18 per hashed column).  numpy would gather and scatter them with a call per
column and a code-sized scratch array; these loops do it in one pass, and release the GIL
so that the read-ahead thread runs beside them.  Functions are compiled on first use and
cached on disk.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _index(flat, slots):  # type: ignore[no-untyped-def]
    # ``slots`` may hold stale ranks from earlier batches: a rank is trusted only when the
    # code stored at that rank in this batch is the code itself.
    distinct = np.empty(flat.shape[0], dtype=np.intp)
    inverse = np.empty(flat.shape[0], dtype=np.int32)
    m = 0
    for i in range(flat.shape[0]):
        code = flat[i]
        rank = slots[code]
        if rank >= m or distinct[rank] != code:
            rank = m
            slots[code] = m
            distinct[m] = code
            m += 1
        inverse[i] = rank
    return distinct[:m].copy(), inverse


@njit(nogil=True, cache=True)
def _gather_add(z, table, codes):  # type: ignore[no-untyped-def]
    for i in range(codes.shape[0]):
        for j in range(codes.shape[1]):
            row = codes[i, j]
            for k in range(z.shape[1]):
                z[i, k] += table[row, k]


@njit(nogil=True, cache=True)
def _scatter_add(table, codes, dz):  # type: ignore[no-untyped-def]
    for i in range(codes.shape[0]):
        for j in range(codes.shape[1]):
            row = codes[i, j]
            for k in range(dz.shape[1]):
                table[row, k] += dz[i, k]


class _Slots(threading.local):
    """One int32 slot per code, per thread, reused by every batch (never cleared)."""

    def __init__(self) -> None:
        self.array = np.zeros(0, dtype=np.int32)

    def get(self, n_codes: int) -> np.ndarray:
        if len(self.array) < n_codes:
            self.array = np.zeros(n_codes, dtype=np.int32)
        return self.array


_SLOTS = _Slots()


def index_codes(codes: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct codes of ``codes`` and each code's rank among them.

    Parameters
    ----------
    codes : ndarray of int32, shape (n_rows, n_columns)
        Codes in ``[0, n_codes)``.
    n_codes : int
        Size of the code space.

    Returns
    -------
    distinct : ndarray of intp, shape (m,)
        The distinct codes, in order of first appearance.
    ranks : ndarray of int32, shape (n_rows, n_columns)
        ``distinct[ranks] == codes``.
    """
    flat = np.ascontiguousarray(codes).reshape(-1)
    distinct, inverse = _index(flat, _SLOTS.get(n_codes))
    return distinct, inverse.reshape(codes.shape)


def add_rows(z: np.ndarray, table: np.ndarray, codes: np.ndarray) -> None:
    """``z[i] += sum_j table[codes[i, j]]`` in place (scores of one-hot codes)."""
    _gather_add(z, table, codes)


def add_to_rows(table: np.ndarray, codes: np.ndarray, dz: np.ndarray) -> None:
    """``table[codes[i, j]] += dz[i]`` for every ``(i, j)``, in place (code gradients)."""
    _scatter_add(table, codes, dz)
