"""Checks of the data and parameters PCA is given, with messages that say what to do."""

from __future__ import annotations

import numpy as np

from bigfit.data.dataset import Dataset
from bigfit.data.stats import Moments
from bigfit.exceptions import DataError, InvalidParameterError, NotFittedError, SchemaError
from bigfit.models._inputs import as_dataset


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


def not_fitted(estimator: object) -> Exception:
    """The error of a method called before ``fit``: bigfit's and scikit-learn's at once."""
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    class NotFitted(NotFittedError, SklearnNotFitted):
        """Both bigfit's and scikit-learn's not-fitted error."""

    return NotFitted(f"This {type(estimator).__name__} instance is not fitted yet; call fit with "
                     "appropriate arguments before using this estimator.")


def prediction_data(X: object, *, numeric: list[str], categorical: list[str],
                    columns: dict[str, list[str]], owner: str, memory_limit: object) -> Dataset:
    """``X`` as a dataset of exactly the fitted features; other columns are ignored."""
    data = as_dataset(X, need_target=False, memory_limit=memory_limit)  # type: ignore[arg-type]
    if data.numeric_features == numeric and data.categorical_features == categorical:
        return data
    if not isinstance(X, Dataset) and isinstance(X, np.ndarray | list | tuple):
        got = len(data.numeric_features) + len(data.categorical_features)
        if got == len(numeric) and not categorical:  # columns by position, as fitted
            return _by_position(X, numeric, memory_limit)
        raise SchemaError(f"X has {got} features, but {owner} is expecting "
                          f"{len(numeric) + len(categorical)} features as input.")
    wanted = [*columns["numeric"], *columns["datetime"], *columns["categorical"]]
    missing = [name for name in wanted if name not in data.columns]
    if missing:
        raise SchemaError(f"The data lacks feature column(s) {missing} that the model was "
                          f"fitted on; its columns are {data.columns}.")
    return data.select(wanted, categorical=columns["categorical"], weight=data.weight)


def _by_position(X: object, names: list[str], memory_limit: object) -> Dataset:
    from sklearn.utils.validation import check_array

    array = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
    return Dataset.from_arrays(array, feature_names=names, memory_limit=memory_limit)  # type: ignore[arg-type]
