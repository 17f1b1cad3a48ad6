"""A Spark DataFrame as a dataset source: its partitions, streamed as Arrow record batches.

A DataFrame is never collected to the driver.  Each of its partitions is one shard
(a piece whose single unit is the partition number); a partition's rows exist only
inside the Spark task that computes it.  The ``spark`` engine runs a map over such
shards as one Spark job over the DataFrame (``DataFrame.mapInArrow``): the task of
partition ``p`` registers the Arrow batches Spark hands it with :func:`partition_stream`
and runs the bigfit task, whose reader then pulls the batches through
:meth:`SparkFrameFormat.read`.  Read anywhere else, a partition raises an error that
says to use the ``spark`` engine.

Importing this module never imports pyspark; :func:`open_spark_frame` does, and only
for a DataFrame (so pyspark is already loaded).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data._hashing import hash_bytes
from bigfit.data.formats.base import FileScan, Format
from bigfit.data.pieces import Piece, Unit
from bigfit.data.shards import FileUnits
from bigfit.exceptions import EngineError, InvalidParameterError

# The partition streams of the Spark task running in this process: (frame key, partition).
_streams: dict[tuple[str, int], Iterator[pa.RecordBatch]] = {}


def is_spark_frame(source: Any) -> bool:
    """Whether ``source`` is a Spark DataFrame (checked without importing pyspark)."""
    cls = type(source)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql")


class SparkFrameFormat(Format):
    """The partitions of one Spark DataFrame, read inside the Spark tasks that compute them.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        The DataFrame; kept in the driver only (it does not travel to workers).
    schema : pyarrow.Schema
        The Arrow types its batches are cast to.
    partitions : int
        Number of partitions when the dataset was opened.
    key : str, optional
        Identifies the DataFrame in the tasks that read it (a new one by default).
    """

    name = "spark"

    def __init__(self, frame: Any, schema: pa.Schema, partitions: int, key: str | None = None) -> None:
        self.frame = frame
        self.schema = schema
        self.partitions = partitions
        self.key = key or uuid.uuid4().hex

    def __reduce__(self) -> tuple[Any, ...]:
        return (SparkFrameFormat, (None, self.schema, self.partitions, self.key))

    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:  # pragma: no cover - DataFrames are not scanned
        raise TypeError("Spark DataFrames are not scanned")

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        """Yield the rows of the piece's partition, pulled from the running Spark task."""
        partition = piece.units[0]
        stream = _streams.pop((self.key, partition), None)
        if stream is None:
            raise EngineError(
                f"Partition {partition} of a Spark DataFrame can only be read inside the Spark job "
                "that the 'spark' engine runs over the DataFrame, and only once per task. Train "
                "with engine='spark' (or an engine=SparkEngine(...) on the DataFrame's session); "
                "to use another engine, write the DataFrame to Parquet first "
                "(df.write.parquet(path)) and open the files.")
        target = pa.schema([schema.field(name) for name in columns])
        for record_batch in stream:
            record_batch = record_batch.select(list(columns))
            if record_batch.schema != target:
                record_batch = record_batch.cast(target)
            for start in range(0, record_batch.num_rows, batch_size):
                yield record_batch.slice(start, batch_size)

    def __repr__(self) -> str:
        return f"SparkFrameFormat({self.partitions} partitions)"


@contextlib.contextmanager
def partition_stream(key: str, partition: int, batches: Iterable[pa.RecordBatch]) -> Iterator[None]:
    """Make ``batches`` the rows of ``partition`` of the DataFrame ``key`` while the block runs.

    Called by the ``spark`` engine inside the Spark task of that partition.
    """
    _streams[(key, partition)] = iter(batches)
    try:
        yield
    finally:
        _streams.pop((key, partition), None)


def frame_pieces(item: Any) -> list[tuple[SparkFrameFormat, Piece]]:
    """Return the DataFrame pieces an engine task item reads: a shard's, or a sequence of shards'."""
    from bigfit.data.shards import Shard

    shards = [item] if isinstance(item, Shard) else (
        [part for part in item if isinstance(part, Shard)] if isinstance(item, list | tuple) else [])
    return [(shard.reader.format, piece) for shard in shards
            if isinstance(shard.reader.format, SparkFrameFormat) for piece in shard.pieces]


def open_spark_frame(frame: Any) -> tuple[SparkFrameFormat, pa.Schema, list[FileUnits]]:
    """Describe a Spark DataFrame as a format, an Arrow schema and one unit per partition.

    Nothing is computed: the partition count comes from the DataFrame's plan and row
    counts stay unknown until the partitions are read.

    Raises
    ------
    InvalidParameterError
        For a Spark Connect DataFrame, whose partitions cannot be addressed.
    """
    if not hasattr(frame, "rdd") or "connect" in type(frame).__module__:
        raise InvalidParameterError(
            "A Spark Connect DataFrame cannot be read partition by partition; use a classic "
            "SparkSession, or write the DataFrame to Parquet and open the files.")
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema)
    partitions = frame.rdd.getNumPartitions()
    fmt = SparkFrameFormat(frame, schema, partitions)
    files = [FileUnits(f"spark-dataframe/partition-{p}", hash_bytes(f"spark-partition-{p}"),
                       [Unit(p, None, 1)]) for p in range(partitions)]
    return fmt, schema, files
