"""A Ray Dataset as a dataset source: its blocks in Ray's object store, read inside the tasks.

A Ray Dataset is never collected to the driver.  Opening one materialises it (its
blocks are computed into the object store, where they stay while the bigfit Dataset
lives) and describes each block as one unit (its row count is known from Ray's block
metadata), so shards are balanced groups of consecutive blocks.  A worker reading a
piece fetches its blocks (a pyarrow Table, or a pandas DataFrame that is converted) and
streams them through bigfit's batch conversion like any file.  The reading process
must be connected to Ray: the ``ray`` engine's workers, or the driver itself (the
in-process ``local`` engine).

Importing this module never imports ray; :func:`open_ray_dataset` does, and only for a
Ray Dataset (so ray is already loaded).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data._hashing import hash_bytes
from bigfit.data.formats.base import FileScan, Format
from bigfit.data.pieces import Piece, Unit
from bigfit.data.shards import FileUnits
from bigfit.exceptions import EngineError, SchemaError

_PATH = "ray-dataset"


def is_ray_dataset(source: Any) -> bool:
    """Whether ``source`` is a Ray Dataset (checked without importing ray)."""
    cls = type(source)
    return cls.__module__.startswith("ray.data") and cls.__name__ in ("Dataset", "MaterializedDataset")


class RayDatasetFormat(Format):
    """The blocks of one materialised Ray Dataset, fetched from the object store where a piece is read.

    Parameters
    ----------
    refs : sequence of ray.ObjectRef
        The blocks, in order; unit ``i`` of the dataset is ``refs[i]``.
    schema : pyarrow.Schema
        The Arrow types blocks are cast to.
    dataset : ray.data.MaterializedDataset, optional
        Kept in the driver (it does not travel to workers) so that the blocks live as
        long as this format.
    """

    name = "ray"

    def __init__(self, refs: Sequence[Any], schema: pa.Schema, dataset: Any = None) -> None:
        self.refs = tuple(refs)
        self.schema = schema
        self.dataset = dataset

    def __reduce__(self) -> tuple[Any, ...]:
        return (RayDatasetFormat, (self.refs, self.schema))

    def scan(self, filesystem: pafs.FileSystem, path: str, size: int, *,
             want_schema: bool) -> FileScan:  # pragma: no cover - Ray Datasets are not scanned
        raise TypeError("Ray Datasets are not scanned")

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        """Yield the rows of the piece's blocks, fetched one block at a time."""
        import ray

        if not ray.is_initialized():
            raise EngineError(
                "The blocks of a Ray Dataset can only be read by a process connected to Ray: train "
                "with engine='ray' (or the in-process 'local' engine, which reads them in the "
                "driver); to use another engine, write the Ray Dataset to Parquet first "
                "(ds.write_parquet(path)) and open the files.")
        target = pa.schema([schema.field(name) for name in columns])
        for unit in piece.units:
            table = _as_arrow(ray.get(self.refs[unit])).select(list(columns))
            if table.schema != target:
                table = table.cast(target)
            yield from table.to_batches(max_chunksize=batch_size)

    def __repr__(self) -> str:
        return f"RayDatasetFormat({len(self.refs)} blocks)"


def _as_arrow(block: Any) -> pa.Table:
    if isinstance(block, pa.Table):
        return block
    return pa.Table.from_pandas(block, preserve_index=False)


def open_ray_dataset(dataset: Any) -> tuple[RayDatasetFormat, pa.Schema, list[FileUnits]]:
    """Materialise a Ray Dataset and describe it as a format, an Arrow schema and one unit per block.

    Raises
    ------
    SchemaError
        When Ray cannot tell the Arrow type of a column.
    """
    materialized = dataset.materialize()
    schema = _arrow_schema(materialized.schema(fetch_if_missing=True))
    refs, units, first_row = [], [], 0
    for bundle in materialized.iter_internal_ref_bundles():
        for entry in bundle.blocks:
            ref, meta = (entry.ref, entry.metadata) if hasattr(entry, "ref") else entry
            rows = int(meta.num_rows or 0)
            units.append(Unit(len(refs), rows, int(meta.size_bytes or 0), first_row=first_row))
            refs.append(ref)
            first_row += rows
    fmt = RayDatasetFormat(refs, schema, materialized)
    return fmt, schema, [FileUnits(_PATH, hash_bytes(_PATH), units)]


def _arrow_schema(schema: Any) -> pa.Schema:
    if schema is None:
        raise SchemaError("The Ray Dataset has no schema (is it empty?); bigfit needs columns to read.")
    base = getattr(schema, "base_schema", None)
    if isinstance(base, pa.Schema):
        return base
    fields = []
    for name, type_ in zip(schema.names, schema.types, strict=True):
        if not isinstance(type_, pa.DataType):
            raise SchemaError(
                f"The column {name!r} of the Ray Dataset has no Arrow type ({type_!r}); convert it "
                "to a number, string, bool or timestamp (e.g. with ds.map_batches) first.")
        fields.append(pa.field(name, type_))
    return pa.schema(fields)
