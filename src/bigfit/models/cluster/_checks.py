"""Checks of the data k-means is given, with messages that say what to do."""

from __future__ import annotations

import numpy as np

from bigfit.data.dataset import Dataset
from bigfit.data.transforms import FitStats
from bigfit.exceptions import DataError, NotFittedError, SchemaError
from bigfit.models._inputs import as_dataset


def check_training_stats(stats: FitStats, numeric: list[str], n_categorical: int, n_clusters: int) -> None:
    """Refuse data with fewer rows than clusters, empty columns, or one point only."""
    if stats.n_rows < n_clusters:
        raise DataError(f"n_samples={stats.n_rows} should be >= n_clusters={n_clusters}: the data has "
                        f"fewer rows than clusters; lower n_clusters.")
    moments = stats.moments
    empty = [name for name, count in zip(numeric, moments.count, strict=True) if count == 0]
    if empty:
        raise DataError(f"Column(s) {empty} hold no value (every row is missing), so k-means cannot "
                        "place centres along them; leave them out of the features "
                        "(Dataset(..., features=[...])).")
    if n_clusters > 1 and n_categorical == 0 and len(numeric) and not (moments.var > 0).any():
        raise DataError(f"Every feature column is constant ({numeric[:10]}): all rows are one point, "
                        f"so there is nothing to split into n_clusters={n_clusters} clusters.")


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
    data = as_dataset(X, need_target=False, memory_limit=memory_limit)
    if data.numeric_features == numeric and data.categorical_features == categorical:
        return data
    if not isinstance(X, Dataset) and isinstance(X, np.ndarray | list | tuple):
        got = len(data.numeric_features) + len(data.categorical_features)
        if got == len(numeric) and not categorical:  # columns by position, as fitted
            return Dataset.from_arrays(_as_float_array(X), feature_names=numeric, memory_limit=memory_limit)
        raise SchemaError(f"X has {got} features, but {owner} is expecting "
                          f"{len(numeric) + len(categorical)} features as input.")
    wanted = [*columns["numeric"], *columns["datetime"], *columns["categorical"]]
    missing = [name for name in wanted if name not in data.columns]
    if missing:
        raise SchemaError(f"The data lacks feature column(s) {missing} that the model was "
                          f"fitted on; its columns are {data.columns}.")
    return data.select(wanted, categorical=columns["categorical"], weight=data.weight)


def _as_float_array(X: object) -> np.ndarray:
    from sklearn.utils.validation import check_array

    return check_array(X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
