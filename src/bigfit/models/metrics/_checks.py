"""Validation of the arrays a metric accumulator receives: one clear error per mistake."""

from __future__ import annotations

from typing import Any

import numpy as np

from bigfit.exceptions import DataError, EmptyDatasetError


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    """Index (row, or row and column) of the first True entry of ``mask``."""
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _where(index: tuple[int, ...]) -> str:
    return f"row {index[0]}" if len(index) == 1 else f"row {index[0]}, column {index[1]}"


def check_finite(values: np.ndarray, name: str) -> None:
    """Raise :class:`DataError` naming the first NaN or infinite entry of ``values``."""
    bad = ~np.isfinite(values)
    if bad.any():
        index = _first_bad(bad)
        raise DataError(
            f"{name} holds {int(bad.sum())} NaN or infinite value(s); the first is "
            f"{float(values[index])!r} at {_where(index)} of this batch. Drop or impute those rows "
            "before computing metrics."
        )


def as_vector(values: Any, name: str, n_rows: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array (``(n, 1)`` is accepted too)."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(f"{name} must be one-dimensional; got shape {array.shape}.")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric; got dtype {array.dtype}.")
    if n_rows is not None and len(array) != n_rows:
        raise DataError(f"{name} has {len(array)} rows but the batch has {n_rows}; "
                        "pass one value per row.")
    array = array.astype(np.float64, copy=False)
    check_finite(array, name)
    return array


def as_weights(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    """Return finite non-negative float64 weights, or None for unit weights."""
    if sample_weight is None:
        return None
    weights = as_vector(sample_weight, "sample_weight", n_rows)
    if (weights < 0).any():
        index = _first_bad(weights < 0)
        raise DataError(f"sample_weight must be non-negative; got {float(weights[index])!r} at "
                        f"{_where(index)} of this batch.")
    return weights


def as_class_indices(y_true: Any, n_classes: int) -> np.ndarray:
    """Return ``y_true`` as int64 class indices in ``[0, n_classes)``."""
    array = np.asarray(y_true)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(f"y_true must be one-dimensional; got shape {array.shape}.")
    if array.dtype.kind == "f":
        check_finite(array, "y_true")
        fractional = array != np.round(array)
        if fractional.any():
            index = _first_bad(fractional)
            raise DataError(f"y_true must hold class indices (integers); got "
                            f"{float(array[index])!r} at {_where(index)} of this batch.")
    elif array.dtype.kind not in "biu":
        raise DataError(f"y_true must hold class indices 0..{n_classes - 1}; got dtype "
                        f"{array.dtype}. Encode labels as their position in `classes`.")
    indices = array.astype(np.int64)
    outside = (indices < 0) | (indices >= n_classes)
    if outside.any():
        index = _first_bad(outside)
        raise DataError(f"y_true holds class index {int(indices[index])} at {_where(index)} of "
                        f"this batch; indices must lie in [0, {n_classes - 1}] for "
                        f"{n_classes} classes.")
    return indices


def as_probabilities(proba: Any, n_classes: int, n_rows: int) -> tuple[np.ndarray, float]:
    """Return ``(probabilities as (n, K) float64, clipping eps of the input dtype)``.

    A 1-D input is the positive-class probability of a binary problem.  The eps is the
    machine epsilon of the input's float dtype (float64 for integers), as scikit-learn's
    ``log_loss`` clips with it.
    """
    array = np.asarray(proba)
    if array.dtype.kind not in "biuf":
        raise DataError(f"proba must be numeric; got dtype {array.dtype}.")
    eps = float(np.finfo(array.dtype if array.dtype.kind == "f" else np.float64).eps)
    array = array.astype(np.float64, copy=False)
    if array.ndim == 2 and n_classes == 2 and array.shape[1] == 1:
        array = array[:, 0]
    binary_column = array.ndim == 1 and n_classes == 2
    if not binary_column and (array.ndim != 2 or array.shape[1] != n_classes):
        raise DataError(
            f"proba must have shape (n_rows, {n_classes}) for {n_classes} classes"
            + (" (or (n_rows,) for the positive class)" if n_classes == 2 else "")
            + f"; got shape {array.shape}."
        )
    if len(array) != n_rows:
        raise DataError(f"proba has {len(array)} rows but y_true has {n_rows}.")
    check_finite(array, "proba")
    outside = (array < 0.0) | (array > 1.0)
    if outside.any():
        index = _first_bad(outside)
        raise DataError(f"proba must hold probabilities in [0, 1]; got "
                        f"{float(array[index])!r} at {_where(index)} of this batch.")
    if binary_column:
        array = np.column_stack([1.0 - array, array])
    return array, eps


def total_weight(rows: int, weight: float) -> float:
    """Return ``weight``, the total weight of ``rows`` rows, or say why metrics are undefined."""
    if rows == 0:
        raise EmptyDatasetError("These metrics have seen no rows: call update() with at "
                                "least one batch (or merge a non-empty partial) first.")
    if not weight > 0:
        raise DataError(f"The {rows} rows seen all have zero sample_weight, so the metrics "
                        "are undefined. Check the weight column.")
    return weight
