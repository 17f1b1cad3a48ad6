"""Write a piece's decoded arrays to a cache entry while its batches stream by."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from bigfit.data._arrays import filled_values
from bigfit.data.batch import Batch
from bigfit.data.cache._files import LABELS, array_path, write_meta
from bigfit.data.schema import Layout

_WRITES_AHEAD = 4  # batches queued for the writer thread at most


class _ArrayFile:
    """Rows of one array appended to a raw file; the dtype is promoted if a batch needs it."""

    def __init__(self, path: Path, dtype: np.dtype, width: int | None) -> None:
        self.path, self.dtype, self.width = path, dtype, width
        self.file: IO[bytes] = open(path, "wb")  # closed by finish() or close()

    def write(self, values: np.ndarray) -> None:
        if values.dtype != self.dtype:
            promoted = np.promote_types(self.dtype, values.dtype)
            if promoted != self.dtype:
                self._promote(promoted)
            values = values.astype(self.dtype)
        self.file.write(np.ascontiguousarray(values).data)

    def _promote(self, dtype: np.dtype) -> None:
        """Rewrite the rows so far in a wider dtype (an integer target that meets a null)."""
        self.file.close()
        written = np.fromfile(self.path, dtype=self.dtype).astype(dtype)
        self.file = open(self.path, "wb")
        self.file.write(written.data)
        self.dtype = dtype

    def describe(self) -> dict[str, Any]:
        return {"dtype": self.dtype.str, "width": self.width}


class _LabelCodes:
    """Encode a non-numeric target as int32 codes into a growing list of classes."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.type: pa.DataType | None = None

    def encode(self, column: pa.Array) -> np.ndarray:
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        encoded = pc.dictionary_encode(column)
        self.type = encoded.type.value_type
        remap = [self.index.setdefault(value, len(self.index))
                 for value in encoded.dictionary.to_pylist()]  # one entry per class, not per row
        indices = filled_values(encoded.indices, -1)
        return np.asarray([*remap, -1], dtype=np.int32)[indices]

    def write(self, path: Path) -> None:
        labels = pa.array(list(self.index), type=self.type)
        table = pa.table({"label": labels})
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)


class EntryWriter:
    """Append batches of a piece to the files of a new cache entry.

    The files are written by a background thread, a few batches behind, so that writing
    (a copy into the page cache, slow on a machine whose memory is fresh) overlaps
    decoding.  Appended arrays are made read-only: they must not change until written.

    Parameters
    ----------
    directory : Path
        The entry's temporary directory.
    layout : Layout
        Column roles; a non-numeric target is stored as codes.
    schema : pyarrow.Schema
        Types of the columns read.
    keyed : bool
        Whether split ids of a key-based holdout are stored.
    """

    def __init__(self, directory: Path, layout: Layout, schema: pa.Schema, *, keyed: bool) -> None:
        self.directory = directory
        self.layout = layout
        self.rows = 0
        self.labels = _LabelCodes() if layout.target and not _numeric(
            schema.field(layout.target).type) else None
        self.keyed = keyed
        self.files: dict[str, _ArrayFile] = {}
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="bigfit-cache-writer")
        self._pending: deque[Future[None]] = deque()

    def append(self, record_batch: pa.RecordBatch, batch: Batch,
               split_ids: np.ndarray | None) -> None:
        """Store every row of ``batch`` (decoded from ``record_batch``)."""
        y = batch.y
        if self.labels is not None:
            y = self.labels.encode(record_batch.column(self.layout.target))
        arrays = {"X": batch.X, "hashes": batch.hashes, "y": y, "w": batch.w,
                  "row_id": batch.row_id, "split": split_ids}
        arrays = {name: values for name, values in arrays.items() if values is not None}
        for values in arrays.values():
            values.flags.writeable = False
        while len(self._pending) >= _WRITES_AHEAD:
            self._pending.popleft().result()
        self._pending.append(self._thread.submit(self._write, arrays))
        self.rows += len(batch)

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        for name, values in arrays.items():
            if name not in self.files:
                width = values.shape[1] if values.ndim == 2 else None
                self.files[name] = _ArrayFile(array_path(self.directory, name), values.dtype, width)
            self.files[name].write(values)

    def finish(self, source: dict[str, str]) -> None:
        """Close the array files, then write the labels and, last, the metadata."""
        self.close()
        if self.labels is not None:
            self.labels.write(self.directory / LABELS)
        arrays = {name: f.describe() for name, f in self.files.items()}
        write_meta(self.directory, {"rows": self.rows, "arrays": arrays,
                                    "labels": self.labels is not None, "source": source})

    def close(self) -> None:
        """Wait for the queued writes, then close the array files; a failed write raises."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pending.clear()
            self._thread.shutdown(wait=True)
            for f in self.files.values():
                f.file.close()


def _numeric(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)
