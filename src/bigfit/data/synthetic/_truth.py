"""The ground truth of a synthetic dataset and its ``_truth.json`` file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bigfit.exceptions import DataNotFoundError, InvalidParameterError

TRUTH_FILE = "_truth.json"


@dataclass(frozen=True, eq=False)
class DatasetTruth:
    """The parameters a synthetic dataset was drawn from (see :func:`make_dataset`).

    Attributes
    ----------
    kind : {"classification", "regression", "blobs"}
    seed : int
    rows : int
    format : {"parquet", "csv"}
    files : tuple of str
        Data file names inside the dataset directory, in row order.
    numeric_columns, categorical_columns : tuple of str
    target : str
        Name of the target column.
    feature_means, feature_stds : ndarray of shape (n_numeric,)
        ``f_j = feature_means[j] + feature_stds[j] * z_j`` with ``z_j`` the latent feature.
    coef : ndarray of shape (n_numeric,) or None
        True weights of the raw numeric columns (None for blobs).
    intercept : float or None
        True intercept on the raw scale (None for blobs).
    category_effects : dict of str to ndarray
        Additive effect of each level: ``category_effects["c0"][17]`` is the effect of
        ``"c0_17"`` (empty for blobs).
    categorical_levels : tuple of int
        Number of levels of each categorical column.
    cluster_centers : ndarray of shape (n_clusters, n_numeric) or None
        Cluster centres on the raw scale (blobs only).
    noise : float
        Logistic scale (classification), gaussian standard deviation of ``y``
        (regression) or of each cluster in standardised units (blobs).
    label_noise : float
        Probability that a class label was flipped (classification).
    missing_fraction : float
        Probability that a feature value was written as missing.
    generator_version : int
        Version of the generating scheme; the data is reproducible within a version.
    """

    kind: str
    seed: int
    rows: int
    format: str
    files: tuple[str, ...]
    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    target: str
    feature_means: np.ndarray
    feature_stds: np.ndarray
    coef: np.ndarray | None
    intercept: float | None
    category_effects: dict[str, np.ndarray]
    categorical_levels: tuple[int, ...]
    cluster_centers: np.ndarray | None
    noise: float
    label_noise: float
    missing_fraction: float
    generator_version: int

    def decision_function(self, data: pa.Table | pa.RecordBatch) -> np.ndarray:
        """Return the true noise-free linear predictor of each row of ``data``.

        The logit of ``P(y = 1)`` before label noise (classification) or the mean of
        ``y`` (regression).  Rows with a missing feature give NaN.

        Parameters
        ----------
        data : pyarrow.Table or pyarrow.RecordBatch
            Rows read back from the dataset (at least the feature columns).

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        if self.coef is None or self.intercept is None:
            raise InvalidParameterError(
                f"decision_function needs a classification or regression dataset; "
                f"this one is {self.kind!r}."
            )
        out = np.full(data.num_rows, self.intercept)
        for name, weight in zip(self.numeric_columns, self.coef, strict=True):
            out += weight * data.column(name).to_numpy(zero_copy_only=False)
        for name in self.categorical_columns:
            codes, valid = _level_codes(data.column(name), name)
            effect = self.category_effects[name][codes]
            effect[~valid] = np.nan
            out += effect
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the truth as JSON-ready builtins."""
        return {f.name: _to_builtin(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetTruth:
        """Rebuild a truth from :meth:`to_dict` output."""

        def array(value: Any) -> np.ndarray | None:
            return None if value is None else np.asarray(value, dtype=np.float64)

        return cls(**{
            **data,
            "files": tuple(data["files"]),
            "numeric_columns": tuple(data["numeric_columns"]),
            "categorical_columns": tuple(data["categorical_columns"]),
            "categorical_levels": tuple(data["categorical_levels"]),
            "feature_means": array(data["feature_means"]),
            "feature_stds": array(data["feature_stds"]),
            "coef": array(data["coef"]),
            "cluster_centers": array(data["cluster_centers"]),
            "category_effects": {
                name: np.asarray(values, dtype=np.float64)
                for name, values in data["category_effects"].items()
            },
        })

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``_truth.json`` into ``directory`` and return its path."""
        path = Path(directory) / TRUTH_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> DatasetTruth:
        """Read the truth of the dataset written to ``directory`` by :func:`make_dataset`."""
        path = Path(directory) / TRUTH_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataNotFoundError(
                f"No {TRUTH_FILE} in {str(directory)!r}: only datasets written by "
                "make_dataset (bigfit make-data) carry a ground truth."
            ) from None
        return cls.from_dict(json.loads(text))


def _level_codes(column: pa.ChunkedArray | pa.Array, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the level index of each value ``"<name>_<i>"`` and a validity mask."""
    import pyarrow.compute as pc

    def parse(values: pa.Array) -> np.ndarray:
        return pc.utf8_slice_codeunits(values, len(name) + 1).cast(pa.int64()).to_numpy()

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(array.type):
        return parse(array.dictionary)[array.indices.fill_null(0).to_numpy()], valid
    return parse(array.fill_null(f"{name}_0")), valid


def _to_builtin(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _to_builtin(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value
