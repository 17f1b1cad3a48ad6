"""The linear design: dense numeric columns plus one-hot categorical codes, never materialised.

Parameters are ``coef`` of shape ``(n_features, n_outputs)`` with ``n_features = d + n_codes``
(the ``d`` numeric rows first, then one row per one-hot code) and ``intercept`` of shape
``(n_outputs,)``, both float64.  Scores of a batch are

    z = X @ coef[:d] + sum_j coef[d + codes[:, j]] + intercept

and the gradient of ``sum_i dz_i . z_i`` is ``X.T @ dz`` for the numeric rows and a
sum of ``dz`` over the codes for the categorical rows (compiled loops of
:mod:`~bigfit.models.linear._kernels`).

Full-batch products with the float32 ``X`` (``scores``, ``gradient``: L-BFGS, evaluation)
accumulate in float64.  They run over blocks of rows whose float64 copy fits in the CPU
cache (about 2 MiB): casting a whole batch first would write and re-read eight bytes per
value through main memory, which made a pass ten times slower.  The epochs of mini-batch
solvers ask for ``exact=False``: products in float32, which over a mini-batch's few
thousand rows lose about 1e-7 relative, far below the noise of a mini-batch gradient, and
cost a third of the float64 ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bigfit.exceptions import DataError
from bigfit.models.linear._kernels import add_rows, add_to_rows, index_codes

_BLOCK_BYTES = 1 << 21

Gradient = tuple[np.ndarray, np.ndarray]  # (grad_coef, grad_intercept)
CodeIndex = tuple[np.ndarray, np.ndarray]  # a batch's distinct codes, and each code's rank


@dataclass(frozen=True, slots=True)
class SparseGradient:
    """A batch gradient that names only the code rows the batch touches.

    Attributes
    ----------
    dense : ndarray of shape (d, n_outputs)
        Gradient of the numeric rows ``coef[:d]``.
    index : ndarray of shape (m,), intp
        Distinct codes present in the batch, in no particular order (rows ``d + index``
        of ``coef``).
    codes : ndarray of shape (m, n_outputs)
        Gradient of those code rows.
    intercept : ndarray of shape (n_outputs,)
        Gradient of the intercept.
    n_rows : int
        Rows of the batch (the SGD schedules count samples).
    """

    dense: np.ndarray
    index: np.ndarray
    codes: np.ndarray
    intercept: np.ndarray
    n_rows: int = 1


@dataclass(frozen=True, slots=True)
class LinearDesign:
    """Scores and gradients of a linear model over numeric features and one-hot codes.

    Parameters
    ----------
    n_numeric : int
        Columns of ``X`` (``d``).
    n_codes : int
        Size of the shared one-hot index space of ``codes`` (0 without categorical columns).
    n_outputs : int
        Score columns: 1 for binary classification and regression, K for multinomial.

    Examples
    --------
    >>> design = LinearDesign(n_numeric=2, n_codes=3, n_outputs=1)
    >>> coef, intercept = design.zeros()
    >>> coef[:, 0] = [1.0, 2.0, 10.0, 20.0, 30.0]
    >>> X = np.array([[1.0, 1.0]], dtype=np.float32)
    >>> design.scores(coef, intercept, X, np.array([[2]], dtype=np.int32))
    array([[33.]])
    """

    n_numeric: int
    n_codes: int
    n_outputs: int = 1

    @property
    def n_features(self) -> int:
        """Rows of ``coef``: ``n_numeric + n_codes``."""
        return self.n_numeric + self.n_codes

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector: ``(n_features + 1) * n_outputs``."""
        return (self.n_features + 1) * self.n_outputs

    def zeros(self) -> tuple[np.ndarray, np.ndarray]:
        """Return zero ``coef`` ``(n_features, n_outputs)`` and ``intercept`` ``(n_outputs,)``."""
        return (np.zeros((self.n_features, self.n_outputs)), np.zeros(self.n_outputs))

    def scores(self, coef: np.ndarray, intercept: np.ndarray, X: np.ndarray,
               codes: np.ndarray | None, *, exact: bool = True) -> np.ndarray:
        """Return ``z`` of shape ``(n, n_outputs)``, float64 (see the module docstring).

        ``exact=False`` multiplies ``X`` in float32 (for mini-batch steps).
        """
        return self.split_scores(coef[: self.n_numeric], coef[self.n_numeric:], intercept, X,
                                 codes, exact=exact)

    def split_scores(self, dense: np.ndarray, table: np.ndarray, intercept: np.ndarray,
                     X: np.ndarray, codes: np.ndarray | None, *, exact: bool = True) -> np.ndarray:
        """:meth:`scores` from the numeric rows ``dense`` and the code rows ``table`` of ``coef``."""
        self._check(X, codes)
        z = dense_product(X, dense) if exact else single_product(X, dense)
        if codes is not None and codes.size:
            add_rows(z, table, codes)
        z += intercept
        return z

    def gradient(self, X: np.ndarray, codes: np.ndarray | None, dz: np.ndarray,
                 out: Gradient | None = None) -> Gradient:
        """Return the dense ``grad_coef`` ``(n_features, n_outputs)`` and ``grad_intercept``.

        ``grad_coef[:d] = X.T @ dz``; ``grad_coef[d + c, k] = sum of dz[i, k] over (i, j) with
        codes[i, j] == c``.  With ``out`` (the pair of a previous call), the batch's gradient
        is added into it: a pass sums its batches without a code-sized array per batch.
        """
        dz = dz.reshape(len(X), self.n_outputs)
        return self.add_gradient(codes, dz, dense_gradient(X, dz), dz.sum(axis=0), out)

    def add_gradient(self, codes: np.ndarray | None, dz: np.ndarray, dense: np.ndarray,
                     intercept: np.ndarray, out: Gradient | None = None) -> Gradient:
        """Add a batch's numeric rows ``dense``, ``intercept`` and code sums of ``dz`` into
        ``out`` (zeros when None); return ``out``."""
        if out is None:
            out = (np.zeros((self.n_features, self.n_outputs)), np.zeros(self.n_outputs))
        grad, grad_intercept = out
        grad[: self.n_numeric] += dense
        grad_intercept += intercept
        if codes is None or not codes.shape[1]:
            return out
        add_to_rows(grad[self.n_numeric:], codes, dz)
        return out

    def sparse_gradient(self, X: np.ndarray, codes: np.ndarray | None, dz: np.ndarray,
                        index: CodeIndex | None = None, *, exact: bool = True) -> SparseGradient:
        """Return the gradient as a :class:`SparseGradient`: only the code rows in ``codes``.

        ``index`` may give the batch's ``(distinct, ranks)`` (:func:`index_codes`) when the
        caller has them already; ``exact=False`` multiplies ``X`` in float32.
        """
        dz = dz.reshape(len(X), self.n_outputs)
        dense = dense_gradient(X, dz) if exact else single_gradient(X, dz)
        if codes is None or not codes.size:
            return SparseGradient(dense, np.zeros(0, dtype=np.intp), np.zeros((0, self.n_outputs)),
                                  dz.sum(axis=0), len(X))
        distinct, ranks = index_codes(codes, self.n_codes) if index is None else index
        by_code = np.zeros((len(distinct), self.n_outputs))
        add_to_rows(by_code, ranks, dz)
        return SparseGradient(dense, distinct, by_code, dz.sum(axis=0), len(X))

    def pack(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """Return ``coef`` (row-major) then ``intercept`` as one flat float64 vector."""
        return np.concatenate([np.asarray(coef, dtype=np.float64).ravel(),
                               np.asarray(intercept, dtype=np.float64).ravel()])

    def unpack(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return views ``(coef, intercept)`` of a flat vector made by :meth:`pack`."""
        if params.shape != (self.n_params,):
            raise ValueError(f"Expected a flat vector of {self.n_params} parameters. "
                             f"Got shape {params.shape}.")
        split = self.n_features * self.n_outputs
        return params[:split].reshape(self.n_features, self.n_outputs), params[split:]

    def penalty_mask(self) -> np.ndarray:
        """Boolean mask of the flat vector: True for ``coef`` (penalised), False for intercepts."""
        mask = np.ones(self.n_params, dtype=bool)
        mask[self.n_features * self.n_outputs:] = False
        return mask

    def _check(self, X: np.ndarray, codes: np.ndarray | None) -> None:
        if X.ndim != 2 or X.shape[1] != self.n_numeric:
            raise DataError(f"The model has {self.n_numeric} numeric features but the batch "
                            f"has X of shape {X.shape}; transform every batch the same way.")
        if self.n_codes == 0 and codes is not None and codes.shape[1]:
            raise DataError(f"The model has no categorical features but the batch has "
                            f"{codes.shape[1]} code columns.")


def _block_rows(n_columns: int) -> int:
    """Rows per block so that a float64 copy of the block takes about ``_BLOCK_BYTES``."""
    return max(256, _BLOCK_BYTES // (8 * max(n_columns, 1)))


def dense_product(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W`` in float64 for a float32 ``X`` ``(n, d)`` and a float64 ``W`` ``(d, K)``."""
    if X.dtype == np.float64:
        return X @ W
    out = np.empty((X.shape[0], W.shape[1]))
    step = _block_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        np.matmul(X[start:start + step].astype(np.float64), W, out=out[start:start + step])
    return out


def dense_gradient(X: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``X.T @ dz`` in float64 for a float32 ``X`` ``(n, d)`` and ``dz`` ``(n, K)``."""
    if X.dtype == np.float64:
        return X.T @ dz
    grad = np.zeros((X.shape[1], dz.shape[1]))
    step = _block_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        grad += X[start:start + step].astype(np.float64).T @ dz[start:start + step]
    return grad


def single_product(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``X @ W`` multiplied in float32, returned in float64 (a mini-batch's scores)."""
    return (X @ W.astype(X.dtype, copy=False)).astype(np.float64)


def single_gradient(X: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``X.T @ dz`` multiplied in float32, returned in float64 (a mini-batch's gradient)."""
    return (X.T @ dz.astype(X.dtype, copy=False)).astype(np.float64)


@dataclass(frozen=True)
class StandardizedDesign:
    """A :class:`LinearDesign` over standardised numeric features, computed from raw ones.

    ``((x - mean) / scale) @ c + b == x @ (c / scale) + (b - (mean / scale) @ c)``, so scores
    and gradients with respect to the standardised coefficients come from ``X`` as read:
    no batch is scaled (or copied) on every pass. Same interface as :class:`LinearDesign`.
    """

    base: LinearDesign
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_numeric(self) -> int:
        return self.base.n_numeric

    @property
    def n_codes(self) -> int:
        return self.base.n_codes

    @property
    def n_outputs(self) -> int:
        return self.base.n_outputs

    @property
    def n_features(self) -> int:
        return self.base.n_features

    @property
    def n_params(self) -> int:
        return self.base.n_params

    def zeros(self) -> tuple[np.ndarray, np.ndarray]:
        return self.base.zeros()

    def pack(self, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        return self.base.pack(coef, intercept)

    def unpack(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.base.unpack(params)

    def penalty_mask(self) -> np.ndarray:
        return self.base.penalty_mask()

    def scores(self, coef: np.ndarray, intercept: np.ndarray, X: np.ndarray,
               codes: np.ndarray | None, *, exact: bool = True) -> np.ndarray:
        """Scores of raw ``X`` under standardised coefficients."""
        d = self.base.n_numeric
        dense = coef[:d] / self.scale[:, None]
        return self.base.split_scores(dense, coef[d:], intercept - self.mean @ dense, X, codes,
                                      exact=exact)

    def gradient(self, X: np.ndarray, codes: np.ndarray | None, dz: np.ndarray,
                 out: Gradient | None = None) -> Gradient:
        """Gradient with respect to the standardised coefficients, from raw ``X``."""
        dz = dz.reshape(len(X), self.n_outputs)
        dense, intercept = dense_gradient(X, dz), dz.sum(axis=0)
        self._standardise(dense, intercept)
        return self.base.add_gradient(codes, dz, dense, intercept, out)

    def sparse_gradient(self, X: np.ndarray, codes: np.ndarray | None, dz: np.ndarray,
                        index: CodeIndex | None = None, *, exact: bool = True) -> SparseGradient:
        """:meth:`LinearDesign.sparse_gradient` with respect to the standardised coefficients."""
        grad = self.base.sparse_gradient(X, codes, dz, index, exact=exact)
        self._standardise(grad.dense, grad.intercept)
        return grad

    def _standardise(self, dense: np.ndarray, intercept_grad: np.ndarray) -> None:
        d = self.base.n_numeric
        dense[:d] -= np.outer(self.mean, intercept_grad)
        dense[:d] /= self.scale[:, None]
