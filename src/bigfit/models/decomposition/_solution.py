"""From small matrices on the driver to principal axes: what both solvers end with.

Conventions follow scikit-learn's ``PCA``: variances divide by ``n - 1``, components are
the rows of ``Vt`` signed so that each one's largest absolute entry is positive
(``svd_flip(..., u_based_decision=False)``), and ``noise_variance_`` is the mean variance
of the discarded directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bigfit.exceptions import DataError


@dataclass(frozen=True)
class Solution:
    """Principal axes in model space and the variance along them.

    Attributes
    ----------
    components : ndarray of shape (k, n_features)
    singular_values : ndarray of shape (k,)
    explained_variance : ndarray of shape (k,)
    explained_variance_ratio : ndarray of shape (k,)
    noise_variance : float
    """

    components: np.ndarray
    singular_values: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    noise_variance: float


def flip_signs(components: np.ndarray) -> np.ndarray:
    """Sign each row so that its entry of largest magnitude is positive (deterministic output)."""
    if components.size == 0:
        return components
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), largest])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def total_variance_or_raise(total: float) -> None:
    """Refuse data whose features all have zero variance: no direction to find."""
    if not total > 0:
        raise DataError("Every feature is constant (the total variance is 0), so there is no "
                        "direction of variance for PCA to find; check the data or the features chosen.")


def from_covariance(scatter: np.ndarray, n_rows: int, n_components: int | float) -> Solution:
    """Eigendecomposition of a centred scatter matrix (already scaled to model space).

    ``n_components`` is a count, or a fraction in (0, 1) of the variance to keep.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(scatter)
    order = np.argsort(eigenvalues)[::-1][: min(n_rows, len(eigenvalues))]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    variance = eigenvalues / (n_rows - 1)
    total = float(np.trace(scatter)) / (n_rows - 1)
    total_variance_or_raise(total)
    ratio = variance / total
    k = _count(n_components, ratio)
    noise = float(variance[k:].mean()) if k < len(variance) else 0.0
    return Solution(flip_signs(eigenvectors[:, order[:k]].T), np.sqrt(eigenvalues[:k]),
                    variance[:k], ratio[:k], noise)


def from_projection(sketch: np.ndarray, n_rows: int, n_features: int, k: int,
                    total: float) -> Solution:
    """The SVD of ``B^T = X^T Q`` (shape (n_features, l)), Halko et al.'s small problem.

    ``total`` is the sum of the feature variances (for the ratios and the noise variance).
    """
    total_variance_or_raise(total)
    left, singular, _ = np.linalg.svd(sketch, full_matrices=False)
    singular = singular[:k]
    variance = singular**2 / (n_rows - 1)
    rank = min(n_rows, n_features)
    noise = (total - float(variance.sum())) / (rank - k) if k < rank else 0.0
    return Solution(flip_signs(left[:, :k].T.copy()), singular, variance, variance / total,
                    max(noise, 0.0))


def _count(n_components: int | float, ratio: np.ndarray) -> int:
    if isinstance(n_components, float):
        cumulative = np.cumsum(ratio)
        return int(min(np.searchsorted(cumulative, n_components, side="right") + 1, len(ratio)))
    return int(n_components)
