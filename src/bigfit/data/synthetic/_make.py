"""Writing a synthetic dataset: the files, their row ranges and the truth file."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

import pyarrow as pa

from bigfit.data.synthetic._model import Model
from bigfit.data.synthetic._rows import RowSource
from bigfit.data.synthetic._spec import FORMATS, Spec, check_choice, check_int
from bigfit.data.synthetic._truth import DatasetTruth
from bigfit.io.atomic import atomic_directory

logger = logging.getLogger("bigfit.data.synthetic")

ROWS_PER_FILE = 1_000_000


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
        Binary classification, regression, or gaussian clusters (see :mod:`bigfit.data.synthetic`).
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
    spec = Spec.validate(
        kind=kind, n_numeric=n_numeric, n_categorical=n_categorical, n_levels=n_levels,
        n_informative=n_informative, n_clusters=n_clusters, noise=noise,
        label_noise=label_noise, missing_fraction=missing_fraction, seed=seed,
    )
    rows = check_int("rows", rows, 1)
    if n_files is None:
        n_files = math.ceil(rows / ROWS_PER_FILE)
    n_files = check_int("n_files", n_files, 1, rows)
    row_group_size = check_int("row_group_size", row_group_size, 1)
    check_choice("format", format, FORMATS)

    model = Model.draw(spec)
    bounds = file_bounds(rows, n_files, row_group_size)
    files = tuple(f"part-{i:05d}.{format}" for i in range(n_files))
    source = RowSource(model)
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


def file_bounds(rows: int, n_files: int, row_group_size: int) -> list[int]:
    """Split rows evenly into files, in whole row groups when there are enough of them."""
    groups = -(-rows // row_group_size)
    if groups < n_files:
        return [i * rows // n_files for i in range(n_files + 1)]
    return [min(i * groups // n_files * row_group_size, rows) for i in range(n_files + 1)]


def _write_parquet(path: Path, model: Model, batches: Iterator[pa.RecordBatch]) -> None:
    import pyarrow.parquet as pq

    schema = model.schema()
    # Dictionary encoding only where values repeat: trying it on random floats costs
    # time and then falls back to plain encoding anyway.
    dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
    with pq.ParquetWriter(path, schema, compression="snappy", use_dictionary=dictionary) as w:
        for batch in batches:
            w.write_batch(batch, row_group_size=batch.num_rows)


def _write_csv(path: Path, model: Model, batches: Iterator[pa.RecordBatch]) -> None:
    import pyarrow.csv as csv

    with csv.CSVWriter(path, model.schema()) as w:
        for batch in batches:
            w.write_batch(batch)


_WRITERS: dict[str, Callable[[Path, Model, Iterator[pa.RecordBatch]], None]] = {
    "parquet": _write_parquet,
    "csv": _write_csv,
}


def _reporting(batches: Iterator[pa.RecordBatch],
               progress: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield batch
        progress(batch.num_rows)
