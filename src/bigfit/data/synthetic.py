"""Synthetic datasets with a known ground truth, written in bounded memory.

:func:`make_dataset` writes a directory of Parquet or CSV files for tests and
benchmarks, plus ``_truth.json`` (the leading underscore keeps it out of Arrow dataset
discovery) holding the parameters the data was drawn from, so that a fitted model can
be checked against the truth.

Rows are drawn in fixed blocks of ``65,536`` rows, each from its own random stream
derived from ``(seed, block number)``.  Row ``i`` is therefore the same whatever the
number of files, the row-group size or the total number of rows (a smaller dataset is a
prefix of a larger one), and memory holds one block and one row group at a time.

The model, per kind (``z`` are independent standard normal latent features):

- numeric features ``f_j = mean_j + std_j * z_j`` with a random offset and a scale
  spread over three decades, so that standardisation matters;
- categorical ``c_k`` uniform over its levels ``"c<k>_<i>"``, each level with an
  additive effect;
- ``classification``: ``y = 1[f @ coef + intercept + effects + noise * logistic > 0]``,
  then each label flipped with probability ``label_noise``;
- ``regression``: ``y = f @ coef + intercept + effects + noise * normal``;
- ``blobs``: ``y`` is a cluster drawn uniformly from ``n_clusters``, and ``z`` an
  isotropic gaussian (standard deviation ``noise``) around that cluster's centre.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from bigfit.exceptions import DataNotFoundError, InvalidParameterError
from bigfit.io.atomic import atomic_directory

__all__ = ["TRUTH_FILE", "DatasetTruth", "make_dataset"]

logger = logging.getLogger(__name__)

TRUTH_FILE = "_truth.json"
KINDS = ("classification", "regression", "blobs")
FORMATS = ("parquet", "csv")

# The unit of determinism: changing it changes every dataset, so bump
# _GENERATOR_VERSION with it.
_BLOCK_ROWS = 65_536
_GENERATOR_VERSION = 1
_ROWS_PER_FILE = 1_000_000
_MAX_DEFAULT_LEVELS = 20_000
_SIGNAL_STD = 3.0  # standard deviation of the numeric part of the latent signal
_EFFECT_STD = 0.5  # standard deviation of each categorical level's effect
_CENTER_BOX = 10.0  # blob centres are uniform in [-10, 10] in standardised units


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
        Version of the generating scheme; data is reproducible within a version.
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
    generator_version: int = _GENERATOR_VERSION

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

        return cls(
            **{
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
                    k: np.asarray(v, dtype=np.float64)
                    for k, v in data["category_effects"].items()
                },
            }
        )

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


def make_dataset(
    out: str | os.PathLike[str],
    *,
    rows: int,
    kind: Literal["classification", "regression", "blobs"] = "classification",
    n_numeric: int = 50,
    n_categorical: int | None = None,
    format: Literal["parquet", "csv"] = "parquet",
    n_files: int | None = None,
    row_group_size: int = 65_536,
    seed: int = 0,
    noise: float = 1.0,
    label_noise: float = 0.05,
    n_clusters: int = 10,
    n_informative: int | None = None,
    n_levels: Sequence[int] | None = None,
    missing_fraction: float = 0.0,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> DatasetTruth:
    """Write a synthetic dataset with a known ground truth to the directory ``out``.

    Files are ``part-00000.parquet``, ``part-00001.parquet``, ... (or ``.csv``) with
    columns ``f0..f{n_numeric-1}`` (float64), ``c0, c1, ...`` (strings such as
    ``"c0_17"``, stored as an Arrow dictionary column in Parquet) and the target ``y``
    (int64 for classification and blobs, float64 for regression), followed by
    ``_truth.json``.  Memory use depends on ``row_group_size`` and the number of
    columns, never on ``rows``.  The directory appears atomically when complete.

    Parameters
    ----------
    out : str or os.PathLike
        Output directory (local path).
    rows : int
        Number of rows, at least 1.
    kind : {"classification", "regression", "blobs"}, default="classification"
        Binary classification, regression, or gaussian clusters (see the module doc).
    n_numeric : int, default=50
        Number of float64 feature columns.
    n_categorical : int, optional
        Number of categorical columns; default 2, or 0 for blobs.
    format : {"parquet", "csv"}, default="parquet"
        File format; CSV files have a header row and comma delimiters.
    n_files : int, optional
        Number of files; default about one per million rows.  Rows are split evenly,
        in whole row groups when there are at least as many row groups as files.
    row_group_size : int, default=65_536
        Rows per Parquet row group, and per write for CSV.
    seed : int, default=0
        Seed of everything random: same arguments give identical files.
    noise : float, default=1.0
        Scale of the logistic noise (classification), standard deviation of the
        gaussian noise on ``y`` (regression), or of each blob in standardised units.
    label_noise : float, default=0.05
        Probability that a class label is flipped (classification only).
    n_clusters : int, default=10
        Number of blobs (blobs only).
    n_informative : int, optional
        Number of numeric features with a non-zero weight; default all of them.
    n_levels : sequence of int, optional
        Number of levels of each categorical column; default 20, 200, 2000, ...
        (capped at 20,000).
    missing_fraction : float, default=0.0
        Probability that a feature value is written as missing (null); the target is
        never missing and is drawn from the complete row.
    overwrite : bool, default=False
        Replace ``out`` if it is a non-empty directory.
    progress : callable, optional
        Called with the number of rows just written, after each row group.

    Returns
    -------
    DatasetTruth
        The ground truth, also saved as ``out/_truth.json``.

    Examples
    --------
    >>> import tempfile, pyarrow.parquet as pq
    >>> out = tempfile.mkdtemp() + "/data"
    >>> truth = make_dataset(out, rows=1000, n_numeric=3, n_categorical=1)
    >>> truth.files
    ('part-00000.parquet',)
    >>> pq.read_table(out).column_names
    ['f0', 'f1', 'f2', 'c0', 'y']
    """
    spec = _Spec.validate(
        kind=kind, n_numeric=n_numeric, n_categorical=n_categorical, n_levels=n_levels,
        n_informative=n_informative, n_clusters=n_clusters, noise=noise,
        label_noise=label_noise, missing_fraction=missing_fraction, seed=seed,
    )
    rows = _check_int("rows", rows, 1)
    if n_files is None:
        n_files = math.ceil(rows / _ROWS_PER_FILE)
    n_files = _check_int("n_files", n_files, 1, rows)
    row_group_size = _check_int("row_group_size", row_group_size, 1)
    _check_choice("format", format, FORMATS)

    model = _Model.draw(spec)
    bounds = _file_bounds(rows, n_files, row_group_size)
    files = tuple(f"part-{i:05d}.{format}" for i in range(n_files))
    source = _RowSource(model)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for name, start, stop in zip(files, bounds[:-1], bounds[1:], strict=True):
            chunks = source.batches(start, stop, row_group_size)
            if progress is not None:
                chunks = _reporting(chunks, progress)
            _WRITERS[format](tmp / name, model, chunks)
            logger.debug("wrote %s: rows %d to %d", name, start, stop)
        truth = model.truth(rows=rows, format=format, files=files)
        truth.save(tmp)
    logger.info("wrote %d rows of %s data in %d files to %s", rows, kind, n_files, out)
    return truth


# --- parameters -------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Validated parameters that determine the distribution (not the file layout)."""

    kind: str
    n_numeric: int
    levels: tuple[int, ...]
    n_informative: int
    n_clusters: int
    noise: float
    label_noise: float
    missing_fraction: float
    seed: int

    @classmethod
    def validate(cls, *, kind: str, n_numeric: int, n_categorical: int | None,
                 n_levels: Sequence[int] | None, n_informative: int | None,
                 n_clusters: int, noise: float, label_noise: float,
                 missing_fraction: float, seed: int) -> _Spec:
        _check_choice("kind", kind, KINDS)
        n_numeric = _check_int("n_numeric", n_numeric, 1 if kind == "blobs" else 0)
        if n_categorical is None:
            n_categorical = len(n_levels) if n_levels is not None else (
                0 if kind == "blobs" else 2)
        n_categorical = _check_int("n_categorical", n_categorical, 0)
        if n_numeric + n_categorical == 0:
            raise InvalidParameterError(
                "make_dataset needs at least one feature; got n_numeric=0 and n_categorical=0."
            )
        if n_levels is None:
            levels = tuple(min(20 * 10**k, _MAX_DEFAULT_LEVELS) for k in range(n_categorical))
        else:
            levels = tuple(_check_int("n_levels", n, 1, 2**31 - 1) for n in n_levels)
            if len(levels) != n_categorical:
                raise InvalidParameterError(
                    f"The 'n_levels' parameter of make_dataset must give one count per "
                    f"categorical column ({n_categorical}). Got {len(levels)} instead."
                )
        return cls(
            kind=kind,
            n_numeric=n_numeric,
            levels=levels,
            n_informative=_check_int(
                "n_informative", n_numeric if n_informative is None else n_informative,
                0, n_numeric),
            n_clusters=_check_int("n_clusters", n_clusters, 1),
            noise=_check_float("noise", noise, 0.0, math.inf),
            label_noise=_check_float("label_noise", label_noise, 0.0, 0.5),
            missing_fraction=_check_float("missing_fraction", missing_fraction, 0.0, 1.0),
            seed=_check_int("seed", seed, 0),
        )


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        upper = "inf)" if high is None else f"{high}]"
        raise InvalidParameterError(
            f"The {name!r} parameter of make_dataset must be an int in the range "
            f"[{low}, {upper}. Got {value!r} instead."
        )
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not low <= value <= high:
        raise InvalidParameterError(
            f"The {name!r} parameter of make_dataset must be a float in the range "
            f"[{low}, {high}]. Got {value!r} instead."
        )
    return float(value)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InvalidParameterError(
            f"The {name!r} parameter of make_dataset must be one of {list(choices)}. "
            f"Got {value!r} instead."
        )
    return str(value)


def _file_bounds(rows: int, n_files: int, row_group_size: int) -> list[int]:
    """Split rows evenly into files, in whole row groups when there are enough of them."""
    groups = -(-rows // row_group_size)
    if groups < n_files:
        return [i * rows // n_files for i in range(n_files + 1)]
    return [min(i * groups // n_files * row_group_size, rows) for i in range(n_files + 1)]


# --- the generating model -----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Block:
    """Rows of the dataset as column-major numpy arrays (one row per column)."""

    numeric: np.ndarray  # (n_numeric, n) float64, raw scale
    codes: np.ndarray  # (n_categorical, n) int32 level indices
    y: np.ndarray  # (n,)
    missing: np.ndarray | None  # (n_numeric + n_categorical, n) bool

    def slice(self, start: int, stop: int) -> _Block:
        return _Block(self.numeric[:, start:stop], self.codes[:, start:stop],
                      self.y[start:stop],
                      None if self.missing is None else self.missing[:, start:stop])

    @staticmethod
    def concat(blocks: list[_Block]) -> _Block:
        if len(blocks) == 1:
            return blocks[0]
        missing = [b.missing for b in blocks]
        return _Block(
            np.concatenate([b.numeric for b in blocks], axis=1),
            np.concatenate([b.codes for b in blocks], axis=1),
            np.concatenate([b.y for b in blocks]),
            None if missing[0] is None else np.concatenate(missing, axis=1),
        )


@dataclass(frozen=True, eq=False)
class _Model:
    """The drawn parameters, in standardised units, and the per-block sampler."""

    spec: _Spec
    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray  # on the latent z
    bias: float
    effects: tuple[np.ndarray, ...]
    centers: np.ndarray | None  # latent blob centres (n_clusters, n_numeric)

    @classmethod
    def draw(cls, spec: _Spec) -> _Model:
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(0,)))
        n = spec.n_numeric
        stds = 10.0 ** rng.uniform(-1.0, 2.0, n)
        means = rng.uniform(-100.0, 100.0, n)
        weights = np.zeros(n)
        informative = rng.permutation(n)[: spec.n_informative]
        weights[informative] = rng.standard_normal(spec.n_informative)
        if spec.n_informative:
            weights *= _SIGNAL_STD / np.linalg.norm(weights)
        bias = float(rng.uniform(-1.0, 1.0))
        effects = tuple(rng.normal(0.0, _EFFECT_STD, levels) for levels in spec.levels)
        centers = None
        if spec.kind == "blobs":
            centers = rng.uniform(-_CENTER_BOX, _CENTER_BOX, (spec.n_clusters, n))
        return cls(spec, means, stds, weights, bias, effects, centers)

    def block(self, index: int) -> _Block:
        """Draw block ``index`` (rows ``index * _BLOCK_ROWS`` onwards)."""
        spec, size = self.spec, _BLOCK_ROWS
        rng = np.random.default_rng(
            np.random.SeedSequence(spec.seed, spawn_key=(1, index)))
        if spec.kind == "blobs":
            assert self.centers is not None
            y = rng.integers(0, spec.n_clusters, size)
            z = rng.standard_normal((spec.n_numeric, size))
            z *= spec.noise
            z += self.centers.T[:, y]
        else:
            z = rng.standard_normal((spec.n_numeric, size))
        codes = np.empty((len(spec.levels), size), dtype=np.int32)
        for k, levels in enumerate(spec.levels):
            codes[k] = rng.integers(0, levels, size, dtype=np.int32)
        if spec.kind != "blobs":
            y = self._target(rng, z, codes)
        missing = None
        if spec.missing_fraction > 0:
            missing = rng.random((z.shape[0] + codes.shape[0], size)) < spec.missing_fraction
        z *= self.stds[:, None]
        z += self.means[:, None]
        return _Block(z, codes, y, missing)

    def _target(self, rng: np.random.Generator, z: np.ndarray, codes: np.ndarray) -> np.ndarray:
        signal = self.weights @ z + self.bias
        for k, effects in enumerate(self.effects):
            signal += effects[codes[k]]
        if self.spec.kind == "regression":
            return signal + self.spec.noise * rng.standard_normal(signal.shape[0])
        positive = signal + self.spec.noise * rng.logistic(size=signal.shape[0]) > 0
        flipped = rng.random(signal.shape[0]) < self.spec.label_noise
        return (positive ^ flipped).astype(np.int64)

    def truth(self, *, rows: int, format: str, files: tuple[str, ...]) -> DatasetTruth:
        spec = self.spec
        linear = spec.kind != "blobs"
        coef = self.weights / self.stds
        categorical = tuple(f"c{k}" for k in range(len(spec.levels)))
        return DatasetTruth(
            kind=spec.kind, seed=spec.seed, rows=rows, format=format, files=files,
            numeric_columns=tuple(f"f{j}" for j in range(spec.n_numeric)),
            categorical_columns=categorical, target="y",
            feature_means=self.means, feature_stds=self.stds,
            coef=coef if linear else None,
            intercept=float(self.bias - coef @ self.means) if linear else None,
            category_effects=dict(zip(categorical, self.effects, strict=True)) if linear else {},
            categorical_levels=spec.levels,
            cluster_centers=None if self.centers is None else self.means + self.stds * self.centers,
            noise=spec.noise,
            label_noise=spec.label_noise if spec.kind == "classification" else 0.0,
            missing_fraction=spec.missing_fraction,
        )

    def schema(self) -> pa.Schema:
        target = pa.float64() if self.spec.kind == "regression" else pa.int64()
        return pa.schema(
            [pa.field(f"f{j}", pa.float64()) for j in range(self.spec.n_numeric)]
            + [pa.field(f"c{k}", pa.dictionary(pa.int32(), pa.string()))
               for k in range(len(self.spec.levels))]
            + [pa.field("y", target)]
        )


@dataclass(eq=False)
class _RowSource:
    """Serves any row range as record batches, drawing each block once when read in order."""

    model: _Model
    _schema: pa.Schema = field(init=False)
    _dictionaries: list[pa.Array] = field(init=False)
    _cached: tuple[int, _Block] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._schema = self.model.schema()
        self._dictionaries = [
            pa.array([f"c{k}_{i}" for i in range(levels)], pa.string())
            for k, levels in enumerate(self.model.spec.levels)
        ]

    def batches(self, start: int, stop: int, size: int) -> Iterator[pa.RecordBatch]:
        """Yield rows ``start`` to ``stop`` as record batches of at most ``size`` rows."""
        for lo in range(start, stop, size):
            yield self._record_batch(self._rows(lo, min(lo + size, stop)))

    def _rows(self, start: int, stop: int) -> _Block:
        parts = []
        for index in range(start // _BLOCK_ROWS, (stop - 1) // _BLOCK_ROWS + 1):
            offset = index * _BLOCK_ROWS
            parts.append(self._block(index).slice(max(start - offset, 0),
                                                  min(stop - offset, _BLOCK_ROWS)))
        return _Block.concat(parts)

    def _block(self, index: int) -> _Block:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self.model.block(index))
        return self._cached[1]

    def _record_batch(self, rows: _Block) -> pa.RecordBatch:
        n_numeric, n_categorical = rows.numeric.shape[0], rows.codes.shape[0]
        masks: list[Any] = [None] * (n_numeric + n_categorical)
        if rows.missing is not None:
            masks = list(rows.missing)
        arrays: list[pa.Array] = [
            pa.array(values, pa.float64(), mask=mask)
            for values, mask in zip(rows.numeric, masks[:n_numeric], strict=True)
        ]
        for codes, dictionary, mask in zip(rows.codes, self._dictionaries,
                                           masks[n_numeric:], strict=True):
            indices = pa.array(codes, pa.int32(), mask=mask)
            arrays.append(pa.DictionaryArray.from_arrays(indices, dictionary))
        arrays.append(pa.array(rows.y))
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)


# --- writers ------------------------------------------------------------------------


def _write_parquet(path: Path, model: _Model, batches: Iterator[pa.RecordBatch]) -> None:
    import pyarrow.parquet as pq

    schema = model.schema()
    # Dictionary encoding only where values repeat: trying it on random floats costs
    # time and then falls back to plain encoding anyway.
    dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
    with pq.ParquetWriter(path, schema, compression="snappy", use_dictionary=dictionary) as w:
        for batch in batches:
            w.write_batch(batch, row_group_size=batch.num_rows)


def _write_csv(path: Path, model: _Model, batches: Iterator[pa.RecordBatch]) -> None:
    import pyarrow.csv as csv

    with csv.CSVWriter(path, model.schema()) as w:
        for batch in batches:
            w.write_batch(batch)


_WRITERS: dict[str, Callable[[Path, _Model, Iterator[pa.RecordBatch]], None]] = {
    "parquet": _write_parquet,
    "csv": _write_csv,
}


def _reporting(batches: Iterator[pa.RecordBatch],
               progress: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield batch
        progress(batch.num_rows)


# --- helpers ------------------------------------------------------------------------


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
