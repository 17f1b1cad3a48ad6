"""In-memory tables (numpy, pandas, polars, pyarrow) as a dataset source."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data.formats.base import FileScan, Format
from bigfit.data.pieces import Piece

UNIT_ROWS = 65_536


class MemoryFormat(Format):
    """Rows held in a pyarrow Table; each piece carries its own slice of it."""

    name = "memory"

    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:  # pragma: no cover - tables are not scanned
        raise TypeError("in-memory tables are not scanned")

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        yield from piece.table.select(list(columns)).to_batches(max_chunksize=batch_size)
