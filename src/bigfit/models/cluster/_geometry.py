"""Distances of a batch to k centres, and per-cluster sums: the k-means hot path.

Squared distances use ``||x||^2 - 2 x.c + ||c||^2``: one float32 matrix product per batch
(plus a gather per categorical column, whose one-hot part is never built) and an argmin;
the distance to the chosen centre is then taken from the difference.
Per-cluster sums are a product of a sparse one-hot assignment matrix with the batch, in
float64; measured on 65,536 x 20 rows and 50 clusters it took 1.5 ms, against 3.3 ms for a
``bincount`` per column, 7.7 ms for sorting by label with ``np.add.reduceat`` and 61 ms
for ``np.add.at`` (the distances themselves take about 5.5 ms).  A mini-batch step (1,024
rows) would spend most of its time building the sparse matrix, so small batches use a
dense assignment matrix instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from bigfit.data.batch import Batch
from bigfit.models.cluster._sampling import TopRows

DENSE_ASSIGN_LIMIT = 1 << 18  # k * rows up to which the assignment matrix is dense (2 MB)


class Centers:
    """k centres in model space: numeric coordinates and one-hot code frequencies.

    Parameters
    ----------
    numeric : ndarray of shape (k, d)
    codes : ndarray of shape (k, n_codes)
        The centre's coordinate on each one-hot column (the share of its rows with that code).
    n_categorical : int
        Categorical columns: every row has one active code per column.

    Examples
    --------
    >>> centers = Centers(np.array([[0.0, 0.0], [3.0, 4.0]]), np.zeros((2, 0)), 0)
    >>> labels, d2 = centers.nearest(np.array([[3.0, 3.0]], dtype=np.float32), None)
    >>> labels.tolist(), d2.tolist()
    ([1], [1.0])
    """

    def __init__(self, numeric: np.ndarray, codes: np.ndarray, n_categorical: int) -> None:
        self.numeric = np.asarray(numeric, dtype=np.float64)
        self.codes = np.asarray(codes, dtype=np.float64)
        self.n_categorical = int(n_categorical)
        self._cross = np.ascontiguousarray(-2.0 * self.numeric.T, dtype=np.float32)
        self._code_cross = np.ascontiguousarray(-2.0 * self.codes.T, dtype=np.float32)
        self._numeric32 = self.numeric.astype(np.float32)
        self._code_norms = (self.codes**2).sum(axis=1)
        norms = (self.numeric**2).sum(axis=1) + self._code_norms
        self._norms = norms.astype(np.float32)

    @property
    def k(self) -> int:
        return int(self.numeric.shape[0])

    @classmethod
    def from_dense(cls, dense: np.ndarray, n_numeric: int, n_categorical: int) -> Centers:
        """Centres from rows of ``[numeric, one-hot codes]`` (see :meth:`dense`)."""
        return cls(dense[:, :n_numeric], dense[:, n_numeric:], n_categorical)

    @classmethod
    def from_rows(cls, rows: Batch, n_codes: int) -> Centers:
        """Centres at model-space rows (``X`` and ``codes`` of a prepared batch)."""
        return cls(rows.X, one_hot(rows.codes, n_codes, len(rows)),
                   0 if rows.codes is None else rows.codes.shape[1])

    def dense(self) -> np.ndarray:
        """Return ``[numeric, codes]`` as one (k, d + n_codes) float64 array."""
        return np.hstack([self.numeric, self.codes])

    def partial_scores(self, X: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        """Return ``||c||^2 - 2 x.c`` of shape (n, k), float32."""
        scores = X @ self._cross
        if codes is not None:
            for j in range(codes.shape[1]):
                scores += np.take(self._code_cross, codes[:, j], axis=0)
        scores += self._norms
        return scores

    def row_norms(self, X: np.ndarray) -> np.ndarray:
        """Return ``||x||^2`` of each model-space row, float64 (one-hot parts included)."""
        return np.einsum("ij,ij->i", X, X).astype(np.float64) + self.n_categorical

    def nearest(self, X: np.ndarray, codes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest centre of each row (intp) and the squared distance to it (float64)."""
        labels = self.partial_scores(X, codes).argmin(axis=1)
        # The distance to the chosen centre is computed again from the difference: the
        # expanded form loses the digits of tight clusters far from the origin.
        diff = X - self._numeric32[labels]
        d2 = np.einsum("ij,ij->i", diff, diff).astype(np.float64)
        if codes is not None and codes.shape[1]:
            d2 += self._code_norms[labels] + self.n_categorical
            for j in range(codes.shape[1]):
                d2 -= 2.0 * self.codes[labels, codes[:, j]]
        return labels, np.maximum(d2, 0.0)

    def squared_distances(self, X: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        """Return the (n, k) squared distances, float64."""
        scores = self.partial_scores(X, codes).astype(np.float64)
        scores += self.row_norms(X)[:, None]
        return np.maximum(scores, 0.0, out=scores)


def one_hot(codes: np.ndarray | None, n_codes: int, n_rows: int) -> np.ndarray:
    """Return the dense (n_rows, n_codes) one-hot matrix of ``codes``."""
    dense = np.zeros((n_rows, n_codes))
    if codes is not None:
        for j in range(codes.shape[1]):
            dense[np.arange(n_rows), codes[:, j]] = 1.0
    return dense


@dataclass
class ClusterSums:
    """Per-cluster weight, coordinate sums and inertia of some rows (combine with :meth:`merge`).

    ``far`` keeps the rows farthest from their centre: empty clusters move there.
    """

    weight: np.ndarray
    numeric: np.ndarray
    codes: np.ndarray
    inertia: float = 0.0
    rows: int = 0
    far: TopRows = field(default_factory=lambda: TopRows(0))

    @classmethod
    def zeros(cls, k: int, n_numeric: int, n_codes: int, n_far: int = 0) -> ClusterSums:
        return cls(np.zeros(k), np.zeros((k, n_numeric)), np.zeros((k, n_codes)), far=TopRows(n_far))

    def add(self, rows: Batch, labels: np.ndarray, d2: np.ndarray) -> None:
        """Fold in a prepared batch whose rows are assigned to ``labels`` at distances ``d2``."""
        k, n = len(self.weight), len(rows)
        w = np.ones(n) if rows.w is None else rows.w
        if k * n <= DENSE_ASSIGN_LIMIT:  # a mini-batch step: building a sparse matrix costs more
            assign = np.zeros((k, n))
            assign[labels, np.arange(n)] = w
            self.numeric += assign @ rows.X.astype(np.float64)
        else:
            self.numeric += sp.csr_matrix((w, (labels, np.arange(n))), shape=(k, n)) @ rows.X
        self.weight += np.bincount(labels, weights=w, minlength=k)
        n_codes = self.codes.shape[1]
        if rows.codes is not None and n_codes:
            flat = (labels[:, None] * n_codes + rows.codes).ravel()
            self.codes += np.bincount(flat, weights=np.repeat(w, rows.codes.shape[1]),
                                      minlength=k * n_codes).reshape(k, n_codes)
        self.inertia += float(d2 @ w)
        self.rows += n
        self.far.update(d2, rows)

    def merge(self, other: ClusterSums) -> ClusterSums:
        self.weight += other.weight
        self.numeric += other.numeric
        self.codes += other.codes
        self.inertia += other.inertia
        self.rows += other.rows
        self.far.merge(other.far)
        return self


def merge_sums(a: ClusterSums, b: ClusterSums) -> ClusterSums:
    """Engine combine of :class:`ClusterSums`."""
    return a.merge(b)
