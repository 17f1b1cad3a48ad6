"""Pieces: the smallest readable slices of a dataset, out of which shards are built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Unit:
    """One indivisible unit of a file: a Parquet row group, an IPC record batch or a text block.

    ``rows`` is None for text blocks, whose row count is unknown until read.
    """

    index: int
    rows: int | None
    nbytes: int
    first_row: int = 0
    byte_range: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Piece:
    """Consecutive units of one file (or one slice of an in-memory table).

    A piece is what a worker reads; it holds no data except for in-memory tables.

    Attributes
    ----------
    path : str
        The file's path on the dataset's filesystem ("" for in-memory data).
    file_id : int
        A stable 64-bit identifier of the file (hash of its path relative to the
        dataset's root), the first half of every row identifier.
    units : tuple of int
        Row-group / record-batch indices, or the text block index.
    rows : int or None
        Number of rows when known from metadata.
    nbytes : int
        Bytes on disk (compressed) this piece covers.
    first_row : int
        Position of the piece's first row in its file (formats with known row counts).
    byte_range : (int, int) or None
        For text formats: the block's ``[start, stop)`` in bytes.
    partition : tuple of (str, str)
        Hive partition values of the file's directory.
    token : str
        Changes when the file changes (size and modification time); keys caches.
    table : pyarrow.Table or None
        The rows themselves, for in-memory data only.
    """

    path: str
    file_id: int
    units: tuple[int, ...]
    rows: int | None
    nbytes: int
    first_row: int = 0
    byte_range: tuple[int, int] | None = None
    partition: tuple[tuple[str, str], ...] = ()
    token: str = ""
    table: Any = None

    def describe(self) -> str:
        """A short human description: file name and units."""
        name = self.path.rsplit("/", 1)[-1] or "memory"
        if self.byte_range is not None:
            return f"{name} bytes {self.byte_range[0]}-{self.byte_range[1]}"
        if self.table is not None:
            return f"memory rows {self.first_row}-{self.first_row + (self.rows or 0)}"
        first, last = self.units[0], self.units[-1]
        return f"{name} row groups {first}-{last}" if last != first else f"{name} row group {first}"
