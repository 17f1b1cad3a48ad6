"""The base class of file formats."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data.pieces import Piece, Unit


@dataclass(frozen=True, slots=True)
class FileScan:
    """What a format learns from a file's metadata: its schema (when read), units, and
    null counts per column where the metadata records them."""

    schema: pa.Schema | None
    units: list[Unit]
    null_counts: dict[str, int] | None = None


class Format(abc.ABC):
    """A file format: how to list a file's units and how to read a piece of it.

    ``scan`` is called once per file in the driver when a dataset is opened (metadata
    only, never the data, where the format allows); ``read`` is called in workers for
    each piece of a shard.  Instances are small and picklable.
    """

    name: str = ""
    extensions: tuple[str, ...] = ()

    @abc.abstractmethod
    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:
        """Return the file's units, and its schema when ``want_schema``."""

    @abc.abstractmethod
    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        """Yield record batches of at most ``batch_size`` rows of ``columns`` of ``piece``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
