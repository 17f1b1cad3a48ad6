"""Write a fitted model's predictions of a whole dataset to Parquet, in bounded memory.

An estimator that can predict a stream implements ``predict_stream(data, passthrough=)``.
One that also implements ``_prediction_view(data, passthrough)`` (the rows to read, as a
Dataset) and ``_batch_predictions(batch)`` (the output columns of one batch of that view)
can have its shards predicted in parallel by an engine's workers, each writing its own
part file.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from bigfit.data.dataset import Dataset
from bigfit.data.shards import Shard
from bigfit.engine.base import Engine, error_type_name, task_error
from bigfit.exceptions import EmptyDatasetError
from bigfit.io.atomic import atomic_directory
from bigfit.io.filesystems import fsspec_filesystem, is_url, split_scheme
from bigfit.io.predictions import PredictionWriter, check_remote_output
from bigfit.models._engine import running_engine, shards_for


def write_predictions(estimator: Any, data: Dataset, out: str, *, passthrough: Sequence[str] = (),
                      engine: Any = None, overwrite: bool = False,
                      storage_options: dict[str, Any] | None = None) -> int:
    """Predict every row of ``data`` with ``estimator`` and write the columns to ``out``.

    Parameters
    ----------
    estimator : fitted bigfit estimator
    data : Dataset
    out : str
        A ``.parquet`` file, or a directory (local path or URL) of part files.
    passthrough : sequence of str
        Columns copied next to the predictions (ids).
    engine : str or Engine, optional
        With several workers and a directory ``out``, each worker predicts whole shards
        and writes ``part-<shard>.parquet`` itself: ``out`` must then be storage every
        worker reaches (a URL, or a shared file system on a cluster).  A single file is
        always written by this process.
    overwrite : bool, default=False
    storage_options : dict, optional
        Filesystem options of a URL ``out``.

    Returns
    -------
    int
        The number of rows written.  Nothing appears at ``out`` unless every row is written.
    """
    with running_engine(engine) as runner:
        parallel = runner.workers > 1 and hasattr(estimator, "_batch_predictions") \
            and not PredictionWriter.is_single_file(out)
        if parallel:
            rows = _write_parts(estimator, data, out, passthrough, runner, overwrite, storage_options)
        else:
            rows = _write_here(estimator, data, out, passthrough, overwrite, storage_options)
    if rows == 0:
        raise EmptyDatasetError("The data has no rows to predict.")
    return rows


def _write_here(estimator: Any, data: Dataset, out: str, passthrough: Sequence[str], overwrite: bool,
                storage_options: dict[str, Any] | None) -> int:
    return _write_columns(estimator.predict_stream(data, passthrough=passthrough), out, overwrite,
                          storage_options)


def _write_columns(batches: Iterable[dict[str, Any]], out: str, overwrite: bool,
                   storage_options: dict[str, Any] | None) -> int:
    """Write each dict of columns to ``out``; the writer opens at the first batch (its schema)."""
    writer = None
    try:
        for columns in batches:
            table = pa.table(columns)
            if writer is None:
                writer = PredictionWriter(out, table.schema, overwrite=overwrite,
                                          storage_options=storage_options)
            writer.write(table)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        return 0
    writer.close()
    return writer.rows_written


@dataclass(frozen=True)
class _PartWriter:
    """Engine task: predict one shard and write it as ``<folder>/part-<shard>.parquet``."""

    estimator: Any
    folder: str
    storage_options: dict[str, Any] | None

    def __call__(self, shard: Shard) -> int | _Failure:
        # A failure is returned, not raised, so that map() waits for every task: cleaning up
        # while a sibling task still writes could leave its part file behind.
        try:
            return self._write(shard)
        except Exception as error:
            return _Failure(error_type_name(error), str(error), traceback.format_exc())

    def _write(self, shard: Shard) -> int:
        predictions = (self.estimator._batch_predictions(batch) for batch in shard.batches())
        return _write_columns(predictions, f"{self.folder}/part-{shard.index:05d}.parquet", True,
                              self.storage_options)


@dataclass(frozen=True)
class _Failure:
    error_type: str
    message: str
    traceback: str


def _total_rows(results: list[int | _Failure], shards: list[Shard]) -> int:
    for index, result in enumerate(results):
        if isinstance(result, _Failure):
            raise task_error(index, shards[index], result.error_type, result.message) \
                from RemoteTraceback(result.traceback)
    return sum(results)  # type: ignore[arg-type]


class RemoteTraceback(Exception):
    """The traceback of an error raised in a worker, shown under the driver's error."""


def _write_parts(estimator: Any, data: Dataset, out: str, passthrough: Sequence[str], engine: Engine,
                 overwrite: bool, storage_options: dict[str, Any] | None) -> int:
    shards = shards_for(estimator._prediction_view(data, passthrough), engine)
    if not is_url(out):
        with atomic_directory(out.removeprefix("file://"), overwrite=overwrite) as staging:
            return _total_rows(engine.map(_PartWriter(estimator, str(staging), None), shards), shards)
    fs = fsspec_filesystem(split_scheme(out)[0], storage_options)
    remote = fs._strip_protocol(out.rstrip("/"))
    check_remote_output(fs, remote, single_file=False, overwrite=overwrite)
    if fs.exists(remote):
        fs.rm(remote, recursive=True)
    try:
        results = engine.map(_PartWriter(estimator, out.rstrip("/"), storage_options), shards)
        return _total_rows(results, shards)
    except BaseException:
        if fs.exists(remote):
            fs.rm(remote, recursive=True)
        raise
