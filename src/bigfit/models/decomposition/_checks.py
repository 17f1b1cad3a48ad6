"""Checks of the data and parameters PCA is given, with messages that say what to do."""

from __future__ import annotations

import numpy as np

from bigfit.data.stats import Moments
from bigfit.exceptions import DataError, InvalidParameterError


def check_rows(n_rows: int) -> None:
    """PCA's variances divide by ``n - 1``: refuse fewer than two rows."""
    if n_rows < 2:
        raise DataError(f"PCA needs at least 2 rows to measure variance; got n_samples={n_rows}.")


def check_columns(moments: Moments, names: list[str]) -> None:
    """Refuse numeric columns that hold no value at all."""
    empty = [name for name, count in zip(names, moments.count, strict=True) if count == 0]
    if empty:
        raise DataError(f"Column(s) {empty} hold no value (every row is missing), so PCA cannot "
                        "place them; leave them out of the features (Dataset(..., features=[...])).")


def check_constant(variance: np.ndarray, names: list[str], standardize: bool) -> None:
    """With ``standardize``, refuse constant columns: they have no unit variance to scale to."""
    constant = [name for name, v in zip(names, variance, strict=False) if not v > 0]
    if standardize and constant:
        raise DataError(f"Column(s) {constant[:10]} are constant, so standardize=True cannot scale them "
                        "to unit variance; leave them out of the features (Dataset(..., features=[...])) "
                        "or pass standardize=False.")


def check_finite(mean: np.ndarray, variance: np.ndarray, names: list[str]) -> None:
    """Refuse statistics made infinite by huge or infinite values."""
    bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(variance)))
    if len(bad):
        shown = [names[j] if j < len(names) else f"one-hot column {j}" for j in bad[:10]]
        raise DataError(f"Column(s) {shown} hold infinite or too large values, so their variance is "
                        "not finite; replace them (for instance with NaN, then impute) or drop the columns.")


def check_n_components(n_components: int | float | None, n_rows: int, n_features: int,
                       encoded: bool) -> int | float:
    """Return the number of components to keep (a count, or a variance fraction as given)."""
    most = min(n_rows, n_features)
    if n_components is None:
        return most
    if isinstance(n_components, float):
        return n_components
    if n_components > most:
        what = f"{n_features} features" + (" after one-hot encoding" if encoded else "")
        raise InvalidParameterError(
            f"n_components={n_components} must be at most min(n_samples, n_features)={most}: the data "
            f"has {n_rows} rows and {what}. Ask for fewer components.")
    return int(n_components)
