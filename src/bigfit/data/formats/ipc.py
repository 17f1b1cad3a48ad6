"""Arrow IPC files (Feather v2): units are record batches; local files are memory-mapped."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.ipc as ipc

from bigfit.data.formats.base import FileScan, Format
from bigfit.data.pieces import Piece, Unit
from bigfit.exceptions import CorruptFileError


class IpcFormat(Format):
    """Arrow IPC file format (``.arrow``, ``.feather``, ``.ipc``)."""

    name = "ipc"
    extensions = (".arrow", ".feather", ".ipc")

    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:
        with _open(filesystem, path) as reader:
            units, first = [], 0
            for index in range(reader.num_record_batches):
                rows = reader.get_batch(index).num_rows
                units.append(Unit(index, rows, size // max(reader.num_record_batches, 1),
                                  first_row=first))
                first += rows
            return FileScan(reader.schema, units)

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        with _open(filesystem or pafs.LocalFileSystem(), piece.path) as reader:
            for index in piece.units:
                record_batch = reader.get_batch(index).select(list(columns))
                for start in range(0, record_batch.num_rows, batch_size):
                    yield record_batch.slice(start, batch_size)


class _open:
    def __init__(self, filesystem: pafs.FileSystem, path: str) -> None:
        self.filesystem, self.path = filesystem, path

    def __enter__(self) -> ipc.RecordBatchFileReader:
        local = isinstance(self.filesystem, pafs.LocalFileSystem)
        try:
            self.handle = pa.memory_map(self.path) if local else self.filesystem.open_input_file(self.path)
            return ipc.open_file(self.handle)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException) as error:
            raise CorruptFileError(f"{self.path} is not a readable Arrow IPC file ({error}).") from error

    def __exit__(self, *exc_info: object) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()
