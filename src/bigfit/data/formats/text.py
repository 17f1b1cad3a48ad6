"""Line-delimited text formats (CSV, JSON lines), split into fixed-size byte blocks.

A file is cut into blocks of ``block_bytes``.  A row belongs to the block in which its
first byte lies, so a block is read from the first row start at or after its start up to
the end of the row that straddles its end.  Block boundaries depend only on the file
size, never on the number of shards, so row identifiers (file, block, row in block) are
stable.  Values with embedded newlines (multi-line quoted CSV fields) are not supported.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data.formats.base import FileScan, Format
from bigfit.data.pieces import Piece, Unit

DEFAULT_BLOCK_BYTES = 32 * 2**20
_CHUNK = 2**20


class TextFormat(Format):
    """Base class of line-delimited formats read by byte ranges."""

    def __init__(self, *, schema: pa.Schema | Mapping[str, Any] | None = None,
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        self.schema_override = as_schema(schema) if schema is not None else None
        self.block_bytes = int(block_bytes)

    def with_overrides(self, schema: pa.Schema) -> pa.Schema:
        """Return ``schema`` with the types given by the user's ``schema=`` option."""
        if self.schema_override is None:
            return schema
        return pa.schema([self.schema_override.field(f.name) if f.name in self.schema_override.names
                          else f for f in schema])

    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:
        starts = range(0, max(size, 1), self.block_bytes)
        units = [Unit(i, None, min(start + self.block_bytes, size) - start,
                      byte_range=(start, min(start + self.block_bytes, size)))
                 for i, start in enumerate(starts)]
        schema = self.infer_schema(filesystem, path) if want_schema else None
        return FileScan(schema, units)

    def infer_schema(self, filesystem: pafs.FileSystem, path: str) -> pa.Schema:
        """Infer column types from the first rows of a file."""
        raise NotImplementedError

    def open_range(self, filesystem: pafs.FileSystem | None, piece: Piece,
                   header: bytes = b"") -> LineRangeReader:
        """Open ``piece``'s rows as a file-like object, ``header`` first."""
        handle = (filesystem or pafs.LocalFileSystem()).open_input_file(piece.path)
        assert piece.byte_range is not None
        return LineRangeReader(handle, *piece.byte_range, header=header)


def first_line(filesystem: pafs.FileSystem, path: str) -> bytes:
    """Return a file's first line, newline included."""
    with filesystem.open_input_file(path) as handle:
        line = b""
        while not line.endswith(b"\n"):
            chunk = handle.read(64 * 1024)
            if not chunk:
                break
            line += chunk
            cut = line.find(b"\n")
            if cut >= 0:
                return line[:cut + 1]
        return line


def count_lines(filesystem: pafs.FileSystem | None, path: str, stop: int) -> int:
    """Return the number of newlines before byte ``stop`` (for error messages only)."""
    with (filesystem or pafs.LocalFileSystem()).open_input_file(path) as handle:
        count, position = 0, 0
        while position < stop:
            chunk = handle.read(min(_CHUNK, stop - position))
            if not chunk:
                break
            count += chunk.count(b"\n")
            position += len(chunk)
        return count


class LineRangeReader(io.RawIOBase):
    """The rows of one block of a text file as a read-only stream.

    Yields ``header`` then the bytes from the first row start at or after ``start``
    through the newline that ends the row in which byte ``stop - 1`` lies.
    """

    def __init__(self, handle: pafs.NativeFile, start: int, stop: int, *, header: bytes = b"") -> None:
        super().__init__()
        self._handle = handle
        self._pending = header
        self.data_start = self._row_start(start)
        self._position = self.data_start
        self._stop = stop
        self._done = self.data_start >= stop
        self._handle.seek(self.data_start)

    def _row_start(self, start: int) -> int:
        if start == 0:
            return 0
        self._handle.seek(start - 1)
        position = start - 1
        while True:
            chunk = self._handle.read(_CHUNK)
            if not chunk:
                return position
            cut = chunk.find(b"\n")
            if cut >= 0:
                return position + cut + 1
            position += len(chunk)

    @property
    def empty(self) -> bool:
        """Whether the block holds no row start."""
        return self.data_start >= self._stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        wanted = len(buffer)
        if self._pending:
            n = min(wanted, len(self._pending))
            buffer[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        if self._done:
            return 0
        if self._position < self._stop:
            data = self._handle.read(min(wanted, self._stop - self._position))
            if self._position + len(data) == self._stop and data.endswith(b"\n"):
                self._done = True
        else:  # past the block: finish the row that straddles its end
            data = self._handle.read(min(wanted, 64 * 1024))
            cut = data.find(b"\n")
            if cut >= 0:
                data, self._done = data[:cut + 1], True
        if not data:
            self._done = True
            return 0
        self._position += len(data)
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._handle.close()
        super().close()


def promote_integers(schema: pa.Schema) -> pa.Schema:
    """Read inferred integer columns as float64.

    Types are inferred from the first block only; a column of integers there may hold
    decimals later, and every numeric feature becomes float32 anyway.
    """
    return pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_integer(f.type) else f
                      for f in schema])


def as_schema(columns: Sequence[tuple[str, pa.DataType]] | pa.Schema) -> pa.Schema:
    """Accept a schema, or name/type pairs (or a mapping) as a schema override."""
    if isinstance(columns, pa.Schema):
        return columns
    items = columns.items() if hasattr(columns, "items") else columns
    return pa.schema([pa.field(name, type_ if isinstance(type_, pa.DataType) else pa.type_for_alias(type_))
                      for name, type_ in items])
