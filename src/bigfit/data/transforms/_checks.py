"""The errors a transformer raises on bad input, each naming the column and the next step."""

from __future__ import annotations

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.stats import Moments
from bigfit.exceptions import DataError, SchemaError


def check_layout(batch: Batch, numeric: list[str], categorical: list[str]) -> None:
    """Raise :class:`SchemaError` unless ``batch`` has the fitted numbers of columns."""
    width = batch.X.shape[1] if batch.X.ndim == 2 else f"X of shape {batch.X.shape}"
    if width != len(numeric):
        raise SchemaError(
            f"FeatureTransformer was fitted on {len(numeric)} numeric columns "
            f"{preview(numeric)}; this batch has {width}."
        )
    n_categorical = 0 if batch.hashes is None else batch.hashes.shape[1]
    if n_categorical != len(categorical):
        raise SchemaError(
            f"FeatureTransformer was fitted on {len(categorical)} categorical columns "
            f"{preview(categorical)}; this batch has {n_categorical}."
        )


def refuse_missing(nulls: np.ndarray, names: list[str], where: str) -> None:
    """Raise :class:`DataError` naming the columns with missing values (``impute="error"``)."""
    columns = np.flatnonzero(nulls)
    if len(columns) == 0:
        return
    found = ", ".join(f"{name_of(names, j)!r} ({int(nulls[j])} NaN)" for j in columns[:5])
    more = f" and {len(columns) - 5} more columns" if len(columns) > 5 else ""
    raise DataError(
        f"Missing values {where}: {found}{more}, and FeatureTransformer has impute='error'. "
        "Pass impute='mean' (or impute='constant' with a fill_value) to fill them."
    )


def refuse_infinite(moments: Moments, names: list[str]) -> None:
    """Raise :class:`DataError` when a column's mean or variance is not finite."""
    seen = moments.count > 0
    bad = np.flatnonzero(seen & ~(np.isfinite(moments.mean) & np.isfinite(moments.var)))
    if len(bad):
        j = int(bad[0])
        raise DataError(
            f"Numeric column {name_of(names, j)!r} holds infinite or too large values "
            f"(min={moments.min[j]}, max={moments.max[j]}), so its mean and scale are not "
            "finite. Replace them (for instance with NaN) or drop the column."
        )


def name_of(names: list[str], j: int) -> str:
    return names[j] if j < len(names) else f"x{j}"


def preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"
