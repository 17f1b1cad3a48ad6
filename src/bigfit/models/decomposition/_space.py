"""The space PCA works in: the fitted feature transform, as float64 rows shifted near their mean.

PCA's statistics are sums of products of rows, so each raw float32 batch becomes float64
numbers close to zero before any product: numeric columns (imputed by the data layer's
:class:`~bigfit.data.transforms.FeatureTransformer`) minus a shift near their mean, so that
sums of squares do not cancel; categorical columns as one-hot indicators, kept sparse.
Standardisation is never applied to the rows: it is a diagonal scaling that the solvers
fold into their small matrices (:attr:`FeatureSpace.scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bigfit.data.batch import Batch
from bigfit.data.transforms import FeatureTransformer


@dataclass(frozen=True)
class ShiftedRows:
    """One batch in model space: ``numeric`` float64 minus the shift, ``onehot`` sparse or None."""

    numeric: np.ndarray
    onehot: sp.csr_matrix | None

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def matmul(self, right: np.ndarray) -> np.ndarray:
        """Return ``rows @ right`` for a dense ``right`` of shape (n_features, k)."""
        p = self.numeric.shape[1]
        out = self.numeric @ right[:p]
        if self.onehot is not None:
            out += self.onehot @ right[p:]
        return out

    def rmatmul(self, left: np.ndarray) -> np.ndarray:
        """Return ``rows.T @ left`` for a dense ``left`` of shape (n_rows, k)."""
        top = self.numeric.T @ left
        if self.onehot is None:
            return top
        return np.vstack([top, self.onehot.T @ left])


@dataclass(frozen=True)
class FeatureSpace:
    """Raw batches to :class:`ShiftedRows` (picklable: it travels to the workers).

    Attributes
    ----------
    transformer : FeatureTransformer or None
        Fitted imputation and categorical encoding (its scaling is not applied); None reads
        the raw numeric columns as they are (the one-pass path, for data without categorical
        columns: a missing value then shows as a non-finite statistic).
    shift : ndarray of shape (n_numeric,), float64, or None
        Subtracted from the numeric columns; None: each shard shifts by the mean of its
        first batch.
    """

    transformer: FeatureTransformer | None
    shift: np.ndarray | None = None

    @property
    def n_codes(self) -> int:
        """Number of one-hot columns (0 without categorical columns)."""
        transformer = self.transformer
        if transformer is None or not transformer.categorical_features_in_:
            return 0
        return int(transformer.n_codes)

    def prepare(self, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
        """The batch's imputed float32 numeric columns and its one-hot codes (or None)."""
        if self.transformer is None:
            return batch.X, None
        ready = self.transformer.transform(batch, scale=False)
        return ready.X, ready.codes

    def shifted(self, X: np.ndarray, codes: np.ndarray | None, shift: np.ndarray,
                out: np.ndarray | None = None) -> ShiftedRows:
        """Prepared columns in model space: ``X - shift`` in float64, ``codes`` one-hot.

        ``out``: a float64 buffer of at least ``X.shape`` to write into (reused from batch to
        batch, it spares the page faults of a fresh array).
        """
        target = None if out is None or len(out) < len(X) else out[: len(X)]
        numeric = np.subtract(X, shift, out=target, dtype=np.float64)
        return ShiftedRows(numeric, None if codes is None else one_hot(codes, self.n_codes))

    def rows(self, batch: Batch, shift: np.ndarray) -> ShiftedRows:
        """Return a raw ``batch`` in model space, its numeric columns minus ``shift``."""
        return self.shifted(*self.prepare(batch), shift)


def one_hot(codes: np.ndarray, n_codes: int) -> sp.csr_matrix:
    """The (n_rows, n_codes) indicator matrix of int32 ``codes`` (one column per code)."""
    n_rows, per_row = codes.shape
    data = np.ones(n_rows * per_row, dtype=np.float64)
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int64)
    return sp.csr_matrix((data, codes.ravel().astype(np.int64), indptr), shape=(n_rows, n_codes))


def reusable(buffer: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``buffer`` if it can hold ``X``'s rows in float64, else a new buffer that can."""
    if buffer.shape[0] >= X.shape[0] and buffer.shape[1:] == X.shape[1:]:
        return buffer
    return np.empty(X.shape)


def first_shift(X: np.ndarray, rows: int = 1024) -> np.ndarray:
    """A shift near the column means: the mean of the finite values of ``X``'s first rows (0 if none).

    It need not be exact: the rows' offset from it only has to be small against their spread.
    """
    x = X[:rows].astype(np.float64)
    finite = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, x, 0.0).sum(axis=0) / finite.sum(axis=0)
    return np.where(np.isfinite(mean), mean, 0.0)


def column_reduce(ufunc: np.ufunc, X: np.ndarray, tile: int = 64) -> np.ndarray:
    """``ufunc.reduce(X, axis=0)`` for a C-contiguous ``X``, several times faster for few columns.

    Reducing ``(n, d)`` along rows runs an inner loop of only ``d`` elements; the
    contiguous rows viewed ``tile`` at a time give long inner loops instead.
    """
    n, d = X.shape
    whole = n - n % tile
    if whole == 0 or not X.flags.c_contiguous:
        return ufunc.reduce(X, axis=0)
    tiled = ufunc.reduce(X[:whole].reshape(whole // tile, tile * d), axis=0).reshape(tile, d)
    return ufunc.reduce(np.vstack([tiled, X[whole:]]), axis=0)
