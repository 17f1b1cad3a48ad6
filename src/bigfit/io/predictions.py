"""Write predictions to Parquet batch by batch, in bounded memory, all or nothing.

A :class:`PredictionWriter` buffers at most one row group (plus the batch being
written), so memory does not grow with the number of predictions.  Output appears only
when the writer closes without error:

- a local file is written under a hidden temporary name and renamed
  (:func:`bigfit.io.atomic.atomic_write`); a local directory is built under a hidden
  name and renamed (:func:`bigfit.io.atomic.atomic_directory`);
- a URL (``s3://``, ``gs://``, ``memory://`` ...) is written to a local temporary
  folder, then uploaded with fsspec at the end.  Each file appears whole (one upload);
  a directory's files appear one after the other, and those already uploaded are
  removed again if a later upload fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bigfit.exceptions import InvalidParameterError, SchemaError
from bigfit.io.atomic import atomic_directory, atomic_write
from bigfit.io.filesystems import fsspec_filesystem, is_url, split_scheme

__all__ = ["PredictionWriter", "check_remote_output"]

logger = logging.getLogger(__name__)

_FILE_SUFFIXES = (".parquet", ".parq", ".pq")


class PredictionWriter:
    """Write record batches to one Parquet file or a directory of part files.

    Parameters
    ----------
    path : str or os.PathLike
        Local path or URL.  A name ending in ``.parquet`` (or ``.parq``, ``.pq``) is one
        file; any other name, or one ending in ``/``, is a directory of
        ``part-00000.parquet``, ``part-00001.parquet`` ... files.
    schema : pyarrow.Schema or mapping of str to pyarrow.DataType
        The columns of every batch; batches are cast to these types.
    storage_options : mapping, optional
        Options of the fsspec filesystem of a URL (credentials, endpoint ...).
    overwrite : bool, default False
        Replace an existing file or directory.  Without it, an existing path is an
        error, raised here before any work is done.
    row_group_size : int, default 131072
        Rows per Parquet row group; the writer buffers up to this many rows.
    max_rows_per_file : int, default 1048576
        Rows per part file in directory mode (ignored for a single file).
    compression : str, default "snappy"
        Parquet compression codec.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np, pyarrow as pa, pyarrow.parquet as pq
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "preds.parquet"
    >>> schema = pa.schema({"row": pa.int64(), "proba": pa.float32()})
    >>> with PredictionWriter(out, schema) as writer:
    ...     writer.write({"row": np.arange(3), "proba": np.array([0.1, 0.9, 0.5])})
    ...     writer.write({"row": [3], "proba": [0.7]})
    >>> pq.read_table(out).column("proba").to_pylist()
    [0.10000000149011612, 0.8999999761581421, 0.5, 0.699999988079071]
    """

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema | Mapping[str, Any], *,
                 storage_options: Mapping[str, Any] | None = None, overwrite: bool = False,
                 row_group_size: int = 2**17, max_rows_per_file: int = 2**20,
                 compression: str = "snappy") -> None:
        self.path = os.fspath(path)
        self.schema = schema if isinstance(schema, pa.Schema) else pa.schema(schema)
        self.single_file = self.is_single_file(self.path)
        self.row_group_size = _positive_int(row_group_size, "row_group_size")
        self.max_rows_per_file = _positive_int(max_rows_per_file, "max_rows_per_file")
        self.compression = compression
        self.rows_written = 0
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0
        self._files: list[str] = []
        self._closed = False
        self._stack = contextlib.ExitStack()
        try:
            self._open(storage_options, overwrite)
        except BaseException:
            self._stack.close()
            raise

    def _open(self, storage_options: Mapping[str, Any] | None, overwrite: bool) -> None:
        target = self.path.rstrip("/") or self.path
        if is_url(target):
            fs = fsspec_filesystem(split_scheme(target)[0], storage_options)
            remote = fs._strip_protocol(target)
            check_remote_output(fs, remote, single_file=self.single_file, overwrite=overwrite)
            staging = Path(self._stack.enter_context(
                tempfile.TemporaryDirectory(prefix="bigfit-predictions-")))
            target = str(staging / Path(remote).name)
            self._stack.enter_context(_upload_on_success(fs, target, remote, self.single_file))
        elif self.single_file:
            _check_local_file(Path(target.removeprefix("file://")), overwrite)
        fsync = not is_url(self.path)
        if self.single_file:
            self._sink: Any = self._stack.enter_context(atomic_write(target, "wb", fsync=fsync))
            self._directory: Path | None = None
        else:
            self._directory = self._stack.enter_context(
                atomic_directory(target, overwrite=overwrite, fsync=fsync))

    @staticmethod
    def is_single_file(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` names one Parquet file (else a directory of part files)."""
        path = os.fspath(path)
        return not path.endswith("/") and path.lower().endswith(_FILE_SUFFIXES)

    @property
    def files(self) -> list[str]:
        """Names of the files started so far (relative to a directory ``path``)."""
        return list(self._files)

    def write(self, batch: pa.RecordBatch | pa.Table | Mapping[str, Any]) -> None:
        """Append rows: a record batch, a table or a mapping of column name to array.

        Raises
        ------
        SchemaError
            A column is missing or extra, or cannot be cast to the schema's type.
        """
        if self._closed:
            raise ValueError(f"This PredictionWriter for {self.path!r} is closed.")
        for part in _as_batches(batch, self.schema):
            if part.num_rows:
                self._buffer.append(part)
                self._buffered += part.num_rows
        if self._buffered >= self.row_group_size:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        offset = 0
        while table.num_rows - offset >= (1 if final else self.row_group_size):
            writer = self._file_writer()
            room = self.max_rows_per_file - self._file_rows if self._directory is not None \
                else self.row_group_size
            n = min(self.row_group_size, room, table.num_rows - offset)
            writer.write_table(table.slice(offset, n), row_group_size=n)
            offset += n
            self._file_rows += n
            self.rows_written += n
        self._buffer = table.slice(offset).to_batches()
        self._buffered = table.num_rows - offset

    def _file_writer(self) -> pq.ParquetWriter:
        """The writer of the current file, starting the next part when one is full."""
        if self._writer is not None and (self._directory is None
                                         or self._file_rows < self.max_rows_per_file):
            return self._writer
        if self._writer is not None:
            self._writer.close()
        name = Path(self.path.rstrip("/")).name if self._directory is None \
            else f"part-{len(self._files):05d}.parquet"
        where = self._sink if self._directory is None else str(self._directory / name)
        self._writer = pq.ParquetWriter(where, self.schema, compression=self.compression)
        self._files.append(name)
        self._file_rows = 0
        return self._writer

    def close(self) -> None:
        """Write the buffered rows and publish the output; an error discards it all."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush(final=True)
            if not self._files:  # no rows at all: still write one file with the schema
                self._file_writer()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        except BaseException as error:
            self._discard(type(error), error, error.__traceback__)
            raise
        self._stack.close()
        logger.debug("wrote %d rows to %s", self.rows_written, self.path)

    def abort(self) -> None:
        """Discard everything written: ``path`` is left as it was."""
        if not self._closed:
            self._closed = True
            error = _Aborted()
            self._discard(_Aborted, error, None)

    def _discard(self, kind: type[BaseException], error: BaseException,
                 traceback: TracebackType | None) -> None:
        self._buffer = []
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            self._writer = None
            self._stack.__exit__(kind, error, traceback)

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is None:
            self.close()
        elif not self._closed:
            self._closed = True
            self._discard(kind or type(error), error, traceback)

    def __repr__(self) -> str:
        return f"PredictionWriter({self.path!r}, rows_written={self.rows_written})"


class _Aborted(Exception):
    """Thrown into the atomic writers so that they delete their temporary output."""


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"The {name!r} parameter of PredictionWriter must be an int "
                                    f"in the range [1, inf). Got {value!r} instead.")
    return value


def _as_batches(data: Any, schema: pa.Schema) -> list[pa.RecordBatch]:
    """Return ``data`` as record batches of exactly ``schema`` (columns in its order)."""
    columns: Mapping[str, Any]
    if isinstance(data, pa.RecordBatch | pa.Table):
        names, columns = data.schema.names, dict(zip(data.schema.names, data.columns, strict=True))
    elif isinstance(data, Mapping):
        names, columns = list(data), data
    elif hasattr(data, "__arrow_c_stream__"):  # pandas, polars ...
        return _as_batches(pa.table(data), schema)
    else:
        raise SchemaError(f"PredictionWriter.write takes a pyarrow RecordBatch or Table, a "
                          f"data frame or a mapping of column name to array; got "
                          f"{type(data).__name__}.")
    missing = [name for name in schema.names if name not in columns]
    extra = [name for name in names if name not in schema.names]
    if missing or extra:
        raise SchemaError(f"The batch's columns {names} do not match the schema's "
                          f"{schema.names}: missing {missing}, unexpected {extra}.")
    arrays = [_as_column(columns[field.name], field) for field in schema]
    if len({len(array) for array in arrays}) > 1:
        lengths = {field.name: len(array) for field, array in zip(schema, arrays, strict=True)}
        raise SchemaError(f"The batch's columns have different lengths: {lengths}.")
    return pa.Table.from_arrays(arrays, schema=schema).to_batches()


def _as_column(values: Any, field: pa.Field) -> pa.ChunkedArray:
    try:
        if isinstance(values, pa.Array | pa.ChunkedArray):
            array = values.cast(field.type) if values.type != field.type else values
        else:
            array = pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as error:
        raise SchemaError(f"Column {field.name!r} cannot be written as {field.type}: "
                          f"{error}") from error
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _check_local_file(target: Path, overwrite: bool) -> None:
    if target.is_dir():
        raise InvalidParameterError(f"The output {str(target)!r} is a directory; a name ending "
                                    "in .parquet is written as one file. Choose another path.")
    if target.exists() and not overwrite:
        raise InvalidParameterError(
            f"The output {str(target)!r} already exists. Pass overwrite=True (--overwrite on "
            "the command line) to replace it, or choose another path.")


def check_remote_output(fs: Any, remote: str, *, single_file: bool, overwrite: bool) -> None:
    """Raise InvalidParameterError unless ``remote`` may be written (or replaced, with ``overwrite``)."""
    if not fs.exists(remote):
        return
    if single_file and fs.isdir(remote):
        raise InvalidParameterError(f"The output {remote!r} is a directory; a name ending in "
                                    ".parquet is written as one file. Choose another path.")
    if not single_file and not fs.isdir(remote):
        raise InvalidParameterError(f"The output {remote!r} exists and is not a directory; "
                                    "remove it or choose another path.")
    if not overwrite and (single_file or fs.ls(remote)):
        raise InvalidParameterError(
            f"The output {remote!r} already exists. Pass overwrite=True (--overwrite on the "
            "command line) to replace it, or choose another path.")


@contextlib.contextmanager
def _upload_on_success(fs: Any, local: str, remote: str, single_file: bool) -> Iterator[None]:
    """Upload ``local`` to ``remote`` when the block succeeds; on error, upload nothing."""
    yield
    if single_file:
        fs.put_file(local, remote)
        return
    names = sorted(os.listdir(local))
    if fs.exists(remote):
        fs.rm(remote, recursive=True)  # stale parts of an older output must not remain
    fs.makedirs(remote, exist_ok=True)
    uploaded: list[str] = []
    try:
        for name in names:
            fs.put_file(os.path.join(local, name), f"{remote}/{name}")
            uploaded.append(f"{remote}/{name}")
    except BaseException:
        if uploaded:
            fs.rm(uploaded)
        raise
