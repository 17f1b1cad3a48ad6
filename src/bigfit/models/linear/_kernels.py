"""Compiled loops over the categorical codes of a batch (numba, without the GIL).

A batch's categorical part touches a few rows of a large coefficient table (one row per
code: 2**18 per hashed column).  numpy would gather and scatter them with a call per
column and a code-sized scratch array; these loops do it in one pass, and release the GIL
so that the read-ahead thread runs beside them.  Functions are compiled on first use and
cached on disk.
"""

from __future__ import annotations

import math
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


@njit(nogil=True, cache=True)
def _catch_up(table, index, seen, seen_step, elapsed, last_step, scale, l1, l2):  # type: ignore[no-untyped-def]
    scaled = scale.shape[0] > 0
    for r in range(index.shape[0]):
        code = index[r]
        missed = last_step - seen_step[code]
        owed = elapsed - seen[code]
        seen[code] = elapsed
        seen_step[code] = last_step
        if missed <= 0 and owed == 0.0:
            continue
        missed = max(missed, 1)
        for k in range(table.shape[1]):
            total = owed * scale[r, k] if scaled else owed
            weight = table[code, k]
            if l2 == 0.0:
                size = abs(weight) - total * l1
            else:
                decay = math.exp(-missed * math.log1p(total * l2 / missed))  # (1 + e l2)^-n
                size = decay * abs(weight) - (l1 / l2) * (1.0 - decay)
            table[code, k] = math.copysign(max(size, 0.0), weight)


class _Slots(threading.local):
    """One int32 slot per code, per thread, reused by every batch (never cleared)."""

    def __init__(self) -> None:
        self.array = np.zeros(0, dtype=np.int32)

    def get(self, n_codes: int) -> np.ndarray:
        if len(self.array) < n_codes:
            self.array = np.zeros(n_codes, dtype=np.int32)
        return self.array


_SLOTS = _Slots()
_NO_SCALE = np.zeros((0, 0))  # catch_up's scale when every row's factor is 1


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


def catch_up(table: np.ndarray, index: np.ndarray, seen: np.ndarray, seen_step: np.ndarray,
             elapsed: float, last_step: int, scale: np.ndarray | None, l1: float,
             l2: float) -> None:
    """Apply to the code rows ``table[index]`` the penalty of the steps that missed them.

    A row last touched at step ``seen_step[c]``, when the sum of step sizes was
    ``seen[c]``, owes ``n = last_step - seen_step[c]`` proximal steps of mean size
    ``e = (elapsed - seen[c]) * scale / n``: ``|w| <- max(A |w| - (l1 / l2) (1 - A), 0)``
    with ``A = (1 + e l2)^-n`` (``|w| - n e l1`` when ``l2 = 0``).  ``seen`` and
    ``seen_step`` of those rows are brought to ``elapsed`` and ``last_step``.  ``scale``
    (rows x outputs, or None for 1) is each row's factor of the base step sizes.
    """
    _catch_up(table, index, seen, seen_step, float(elapsed), int(last_step),
              _NO_SCALE if scale is None else scale, float(l1), float(l2))

