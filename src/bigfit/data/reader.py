"""Reading pieces of a dataset into batches: the part of a dataset that travels to workers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data._arrays import from_numpy
from bigfit.data.batch import Batch
from bigfit.data.convert import row_ids, to_batch
from bigfit.data.formats import Format
from bigfit.data.holdout import Holdout
from bigfit.data.pieces import Piece
from bigfit.data.schema import Layout
from bigfit.data.shuffle import ShuffleWindow


@dataclass(frozen=True)
class Reader:
    """Everything a worker needs to read a piece: format, filesystem, schema and roles.

    Small and picklable; it holds no data.

    Attributes
    ----------
    random_access : bool
        Class attribute: True when :meth:`shuffled_batches` gathers a piece's rows in any
        order at the cost of one copy (a cache), so a shuffled stream is best read piece by
        piece; False when it reads in file order and shuffles a window afterwards, so a
        window spanning pieces is as cheap and shuffles better.
    """

    random_access: ClassVar[bool] = False

    format: Format
    filesystem: pafs.FileSystem | None
    schema: pa.Schema
    layout: Layout
    batch_size: int
    holdout: Holdout | None = None

    def with_holdout(self, holdout: Holdout | None) -> Reader:
        """Return a reader that keeps one side of a holdout split."""
        return replace(self, holdout=holdout)

    def columns(self) -> list[str]:
        """Columns read from files (partition columns are added afterwards)."""
        names = self.layout.columns
        if self.holdout is not None and self.holdout.key and self.holdout.key not in names:
            names = [*names, self.holdout.key]
        return names

    def record_batches(self, piece: Piece, batch_size: int | None = None) -> Iterator[pa.RecordBatch]:
        """Yield the raw record batches of ``piece`` (all rows, no split applied)."""
        partition = dict(piece.partition)
        wanted = self.columns()
        from_file = [name for name in wanted if name not in partition]
        for record_batch in self.format.read(self.filesystem, piece, self.schema, from_file,
                                             batch_size or self.batch_size):
            if partition:
                record_batch = _add_partition_columns(record_batch, partition, self.schema, wanted)
            yield record_batch

    def batches(self, piece: Piece, batch_size: int | None = None, *,
                holdout_weights: bool = False) -> Iterator[Batch]:
        """Yield ``piece`` as batches, keeping only this reader's side of the holdout split.

        ``holdout_weights`` lets a reader keep the other side's rows with weight 0 instead
        (see :meth:`~bigfit.data.shards.Shard.batches`); this one always removes them.
        """
        position = 0
        block = piece.units[0] if piece.byte_range is not None else None
        first = 0 if block is not None else piece.first_row
        for record_batch in self.record_batches(piece, batch_size):
            n = record_batch.num_rows
            ids = row_ids(piece.file_id, first + position, n, block=block)
            position += n
            if self.holdout is not None:
                keep = self.holdout.mask(self.holdout.split_ids(record_batch, ids))
                if not keep.all():
                    record_batch, ids = record_batch.filter(from_numpy(keep)), ids[keep]
            if record_batch.num_rows:
                yield to_batch(record_batch, self.layout, ids)

    def shuffled_batches(self, piece: Piece, batch_size: int | None,
                         window: ShuffleWindow) -> Iterator[Batch]:
        """:meth:`batches` with the piece's rows shuffled within ``window``."""
        size = batch_size or self.batch_size
        return window.apply(self.batches(piece, size), size)


def _add_partition_columns(record_batch: pa.RecordBatch, partition: dict[str, str],
                           schema: pa.Schema, wanted: list[str]) -> pa.RecordBatch:
    n = record_batch.num_rows
    arrays = {name: record_batch.column(name) for name in record_batch.schema.names}
    for name, value in partition.items():
        type_ = schema.field(name).type
        if pa.types.is_dictionary(type_):
            arrays[name] = pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), pa.array([value]))
        else:
            arrays[name] = pa.array(np.full(n, value)).cast(type_)
    return pa.RecordBatch.from_arrays([arrays[name] for name in wanted], names=wanted)
