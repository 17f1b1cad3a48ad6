"""What estimators accept as data: a Dataset, or arrays and DataFrames in memory."""

from __future__ import annotations

from typing import Any

import numpy as np

from bigfit.data.dataset import Dataset
from bigfit.exceptions import InvalidParameterError


def as_dataset(X: Any, y: Any = None, sample_weight: Any = None, *,
               memory_limit: int | str | None = None, need_target: bool = True) -> Dataset:
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
    if need_target and y is None:
        raise InvalidParameterError("y is required: call fit(X, y), or fit(dataset) with a target.")
    if y is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise InvalidParameterError(f"y must be one-dimensional; got shape {y.shape}.")
    if isinstance(X, np.ndarray) or isinstance(X, list | tuple):
        X = np.asarray(X)
        if X.ndim != 2:
            raise InvalidParameterError(
                f"Expected a 2-D array for X, got shape {X.shape}; reshape your data with "
                "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample.")
        if X.dtype.kind not in "biuf":
            raise InvalidParameterError(f"X must be numeric; got dtype {X.dtype}.")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.ndim != 1:
            raise InvalidParameterError(
                f"sample_weight must be one-dimensional; got shape {sample_weight.shape}.")
    return Dataset.from_arrays(X, y, sample_weight=sample_weight, memory_limit=memory_limit)
