"""Parquet: units are row groups, the schema and row counts come from the footer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from bigfit.data.formats.base import FileScan, Format
from bigfit.data.pieces import Piece, Unit
from bigfit.exceptions import CorruptFileError


class ParquetFormat(Format):
    """Apache Parquet files, read row group by row group."""

    name = "parquet"
    extensions = (".parquet", ".parq", ".pq")

    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:
        with _open(filesystem, path) as parquet:
            metadata = parquet.metadata
            units, first = [], 0
            for index in range(metadata.num_row_groups):
                group = metadata.row_group(index)
                nbytes = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
                units.append(Unit(index, group.num_rows, nbytes, first_row=first))
                first += group.num_rows
            return FileScan(parquet.schema_arrow, units, _null_counts(metadata))

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        # Pre-buffering coalesces requests to object stores but holds every requested row
        # group in memory at once: remotely it reads one row group per call, locally it is off.
        remote = filesystem is not None and not isinstance(filesystem, pafs.LocalFileSystem)
        groups = [[group] for group in piece.units] if remote else [list(piece.units)]
        with _open(filesystem, piece.path, pre_buffer=remote) as parquet:
            try:
                for row_groups in groups:
                    yield from parquet.iter_batches(batch_size=batch_size, row_groups=row_groups,
                                                    columns=list(columns), use_threads=False)
            except (OSError, pa.ArrowException) as error:
                raise CorruptFileError(f"Cannot read {piece.describe()} of {piece.path}: {error}") from error


class _open:
    """Open a Parquet file, turning pyarrow's errors into ones that name the file."""

    def __init__(self, filesystem: pafs.FileSystem | None, path: str, *, pre_buffer: bool = True) -> None:
        self.filesystem, self.path, self.pre_buffer = filesystem, path, pre_buffer

    def __enter__(self) -> pq.ParquetFile:
        try:
            self.handle = (self.filesystem or pafs.LocalFileSystem()).open_input_file(self.path)
            return pq.ParquetFile(self.handle, pre_buffer=self.pre_buffer)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException) as error:
            raise CorruptFileError(
                f"{self.path} is not a readable Parquet file ({error}); "
                "it may be truncated, or pass format= if it holds another format."
            ) from error

    def __exit__(self, *exc_info: object) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            handle.close()


def _null_counts(metadata: pq.FileMetaData) -> dict[str, int] | None:
    """Null counts of top-level columns from row-group statistics, when every group has them."""
    counts: dict[str, int] = {}
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            if stats is None or not stats.has_null_count:
                return None
            counts[column.path_in_schema] = counts.get(column.path_in_schema, 0) + stats.null_count
    return counts
