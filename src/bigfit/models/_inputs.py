"""What estimators accept as data: a Dataset, or arrays and DataFrames in memory.

Arrays go through scikit-learn's own validators, so they are checked (shapes, dtypes,
infinities, sparse input) and worded exactly as scikit-learn users expect; tables
(DataFrames, Arrow) keep their column names and types (categorical strings included).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigfit.data.dataset import Dataset
from bigfit.exceptions import InvalidParameterError, SchemaError

_TABLE_MODULES = ("pandas", "polars", "pyarrow")


def as_dataset(X: Any, y: Any = None, sample_weight: Any = None, *,
               memory_limit: int | str | None = None, need_target: bool = True,
               classification: bool = False) -> Dataset:
    """Return ``X`` (and ``y``, ``sample_weight``) as a :class:`Dataset`.

    A Dataset already carries its target and weight columns, so ``y`` and
    ``sample_weight`` must then be None.  Arrays and DataFrames are wrapped in memory.
    """
    if isinstance(X, Dataset):
        if y is not None or sample_weight is not None:
            raise InvalidParameterError(
                "A Dataset carries its own target and weights: pass Dataset(..., target='y', "
                "weight='w') and call fit(dataset) without y or sample_weight.")
        if need_target and X.target is None:
            raise InvalidParameterError(
                "The Dataset has no target column; open it with Dataset(..., target='<column>').")
        return X
    from sklearn.utils.validation import check_array

    if need_target and y is None:
        raise InvalidParameterError(
            "This estimator requires y to be passed, but the target y is None: call fit(X, y), "
            "or fit(dataset) with a target column.")
    if not _is_table(X):
        X = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite="allow-nan",
                        input_name="X")
    n_rows = len(X) if not isinstance(X, dict) else len(next(iter(X.values())))
    if y is not None:
        y = _check_target(y, n_rows, classification)
    if sample_weight is not None:
        sample_weight = _check_weights(sample_weight, n_rows)
    return Dataset.from_arrays(X, y, sample_weight=sample_weight, memory_limit=memory_limit)


def _is_table(X: Any) -> bool:
    if isinstance(X, dict):
        return not hasattr(X, "tocsr")  # scipy's dok_matrix is a dict too
    return type(X).__module__.split(".")[0] in _TABLE_MODULES


def _check_target(y: Any, n_rows: int, classification: bool) -> np.ndarray:
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, column_or_1d

    y = column_or_1d(y, warn=True)
    if len(y) != n_rows:
        raise InvalidParameterError(f"y has {len(y)} rows but X has {n_rows}.")
    if classification:
        check_classification_targets(y)
    elif y.dtype.kind in "biuf":
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
    return y


def _check_weights(sample_weight: Any, n_rows: int) -> np.ndarray:
    from sklearn.utils.validation import _check_sample_weight

    weights = _check_sample_weight(sample_weight, np.empty((n_rows, 0)), dtype=np.float64,
                                   ensure_non_negative=True)
    if not weights.any():
        raise InvalidParameterError("Sample weights must contain at least one non-zero number.")
    return weights


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
