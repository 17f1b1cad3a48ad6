"""The Dataset: files or in-memory tables, their column roles, shards and batch streams."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa

from bigfit._config import memory_limit as resolve_memory_limit
from bigfit.data._hashing import hash_bytes
from bigfit.data.batch import Batch
from bigfit.data.budget import Budget, plan_budget
from bigfit.data.cache import cached_reader
from bigfit.data.discovery import FoundFile, find_files
from bigfit.data.formats import FileScan, Format, MemoryFormat, format_for
from bigfit.data.formats.memory import UNIT_ROWS
from bigfit.data.formats.ray_dataset import RayDatasetFormat, is_ray_dataset, open_ray_dataset
from bigfit.data.formats.spark_frame import SparkFrameFormat, is_spark_frame, open_spark_frame
from bigfit.data.formats.text import TextFormat
from bigfit.data.holdout import Holdout
from bigfit.data.pieces import Unit
from bigfit.data.prefetch import prefetch as read_ahead
from bigfit.data.reader import Reader
from bigfit.data.schema import Layout, check_same_roles, infer_layout, role_of
from bigfit.data.shards import FileUnits, Shard, plan_shards
from bigfit.data.shuffle import ShuffleWindow
from bigfit.exceptions import EmptyDatasetError, InvalidParameterError, SchemaError

_ROWS_PER_DEFAULT_SHARD = 1_000_000
_TEXT_OPTIONS = ("delimiter", "header", "null_values", "quote_char")


class Dataset:
    """A table too large for memory, read in shards and mini-batches.

    Parameters
    ----------
    source : str, path-like, list of them, or an in-memory table
        A file, glob, directory (hive partitions ``key=value/`` become columns) or URL
        (``s3://``, ``gs://``, ``abfs://``, ``hdfs://`` or any fsspec URL); or a pyarrow
        Table, pandas or polars DataFrame, dict of arrays, or 2-D numpy array; or a Spark
        DataFrame, never collected: its partitions are the shards, read as Arrow batches
        inside the Spark tasks of the ``spark`` engine (see :class:`bigfit.engine.spark.SparkEngine`);
        or a Ray Dataset, materialised in Ray's object store and never collected: its blocks are
        read inside the tasks of the ``ray`` engine (see :class:`bigfit.engine.ray.RayEngine`).
    target : str, optional
        The column to predict.
    features : sequence of str, optional
        Feature columns; by default every other column of a supported type.
    weight : str, optional
        A column of sample weights.
    categorical : sequence of str
        Numeric columns to treat as categorical.
    format : {"parquet", "csv", "json", "ipc"}, optional
        Inferred from file extensions when not given.
    storage_options : mapping, optional
        Options for the filesystem of a URL (credentials, endpoint, region).
    memory_limit : int or str, optional
        Memory budget (``"2GB"``); defaults to ``BIGFIT_MEMORY_LIMIT`` or a quarter of RAM.
        It sets the batch size and read-ahead depth.
    **read_options
        Format options: for CSV ``delimiter``, ``header``, ``null_values``, ``quote_char``;
        for CSV and JSON ``schema`` (types overriding inference) and ``block_bytes``.

    Examples
    --------
    >>> import numpy as np
    >>> ds = Dataset({"x": np.arange(6.0), "y": [0, 1] * 3}, target="y")
    >>> ds.num_rows, ds.numeric_features
    (6, ['x'])
    >>> [len(batch) for batch in ds.batches(batch_size=4)]
    [4, 2]
    """

    def __init__(
        self,
        source: Any,
        *,
        target: str | None = None,
        features: Sequence[str] | None = None,
        weight: str | None = None,
        categorical: Sequence[str] = (),
        format: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        memory_limit: int | str | None = None,
        **read_options: Any,
    ) -> None:
        table = _as_table(source)
        opened = _open_engine_source(source) if table is None else None
        if opened is not None:  # read inside the engine's tasks, never collected here
            if read_options or format is not None:
                raise InvalidParameterError("format= and read options apply to files only.")
            fmt, schema, self._files, where = opened
            self._table, self._filesystem, self._found, self._null_counts = None, None, [], None
        elif table is not None:
            if read_options or format not in (None, "memory"):
                raise InvalidParameterError("format= and read options apply to files only.")
            fmt: Format = MemoryFormat()
            self._table: pa.Table | None = table
            self._filesystem = None
            self._files = [_memory_units(table)]
            self._found: list[FoundFile] = []
            self._null_counts = {name: table.column(name).null_count for name in table.column_names}
            schema, where = table.schema, "the table"
        else:
            sources = [source] if isinstance(source, str | os.PathLike) else list(source)
            self._table = None
            self._filesystem, self._found, name = find_files(
                sources, format_name=format, storage_options=storage_options)
            fmt = format_for(name, **read_options)
            schema, self._files, self._null_counts = _scan(fmt, self._filesystem, self._found)
            where = f"{sources[0]!s}" + (f" (and {len(sources) - 1} more)" if len(sources) > 1 else "")
        self._by_bytes = isinstance(fmt, TextFormat)
        layout = infer_layout(schema, target=target, features=features, weight=weight,
                              categorical=categorical, where=where)
        self.budget = plan_budget(resolve_memory_limit(memory_limit), _row_bytes(schema, layout))
        self._reader = Reader(fmt, self._filesystem, schema, layout, self.budget.batch_size)
        self._check_rows()

    @classmethod
    def from_arrays(cls, X: Any, y: Any = None, *, sample_weight: Any = None,
                    feature_names: Sequence[str] | None = None,
                    memory_limit: int | str | None = None) -> Dataset:
        """Wrap in-memory arrays (numpy, pandas, polars, pyarrow) as a dataset.

        The target column is named ``"y"`` and the weight ``"sample_weight"``.
        """
        table = _as_table(X)
        if table is None:
            raise InvalidParameterError(f"X must be an array or a table; got {type(X).__name__}.")
        if feature_names is not None:
            table = table.rename_columns(list(feature_names))
        features = table.column_names
        for name, values in (("y", y), ("sample_weight", sample_weight)):
            if values is not None:
                if name in table.column_names:
                    raise SchemaError(f"X already has a column named {name!r}.")
                values = np.asarray(values)
                if len(values) != table.num_rows:
                    raise InvalidParameterError(
                        f"{name} has {len(values)} rows but X has {table.num_rows}.")
                table = table.append_column(name, pa.array(values))
        return cls(table, target="y" if y is not None else None, features=features,
                   weight="sample_weight" if sample_weight is not None else None,
                   memory_limit=memory_limit)

    # -- description -----------------------------------------------------------------

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of every column (partition columns included)."""
        return self._reader.schema

    @property
    def columns(self) -> list[str]:
        """All column names."""
        return self.schema.names

    @property
    def layout(self) -> Layout:
        """Column roles: numeric, datetime and categorical features, target, weight."""
        return self._reader.layout

    @property
    def target(self) -> str | None:
        """Name of the target column."""
        return self.layout.target

    @property
    def weight(self) -> str | None:
        """Name of the weight column."""
        return self.layout.weight

    @property
    def numeric_features(self) -> list[str]:
        """Names of the columns of ``Batch.X``."""
        return self.layout.numeric_features

    @property
    def categorical_features(self) -> list[str]:
        """Names of the columns of ``Batch.hashes``."""
        return self.layout.categorical_features

    @property
    def format(self) -> str:
        """The file format name (``"memory"`` for in-memory tables)."""
        return self._reader.format.name

    @property
    def files(self) -> list[str]:
        """Paths of the data files."""
        return [f.path for f in self._found]

    @property
    def nbytes(self) -> int:
        """Bytes on disk (or in memory for tables)."""
        if self._table is not None:
            return self._table.nbytes
        return sum(f.size for f in self._found)

    @property
    def num_rows(self) -> int | None:
        """Rows from metadata, before any holdout split; None for text formats (unknown until read)."""
        counts = [u.rows for f in self._files for u in f.units]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    @property
    def batch_size(self) -> int:
        """Rows per batch chosen from the memory budget."""
        return self._reader.batch_size

    def __repr__(self) -> str:
        rows = f"{self.num_rows:,} rows" if self.num_rows is not None else f"{self.nbytes:,} bytes"
        split = ""
        if self._reader.holdout is not None:
            split = ", validation" if self._reader.holdout.validation else ", training"
        return (f"Dataset({self.format}, {len(self._found) or 1} file(s), {rows}, "
                f"target={self.target!r}, {len(self.numeric_features)} numeric + "
                f"{len(self.categorical_features)} categorical features{split})")

    # -- shards and streams -------------------------------------------------------------

    def shards(self, n: int | None = None) -> list[Shard]:
        """Split the dataset into at most ``n`` balanced shards.

        Shards are cut at row-group (Parquet), record-batch (IPC) or byte-block (CSV,
        JSON) boundaries and balanced by rows (bytes for text), so with enough units
        per shard the largest is within 1.25x of the smallest.  By default there is a
        shard per million rows (or 128 MB of text).
        """
        if n is None:
            n = self._default_shard_count()
        if not isinstance(n, int | np.integer) or n < 1:
            raise InvalidParameterError(f"The number of shards must be an int >= 1. Got {n!r} instead.")
        if isinstance(self._reader.format, SparkFrameFormat):
            n = len(self._files)  # a Spark DataFrame's shards are its partitions
        groups = plan_shards(self._files, int(n), by_bytes=self._by_bytes)
        if self._table is not None:
            groups = [[replace(p, table=self._table.slice(p.first_row, p.rows)) for p in g] for g in groups]
        return [Shard(i, tuple(group), self._reader) for i, group in enumerate(groups)]

    def _default_shard_count(self) -> int:
        if self._by_bytes:
            return max(1, math.ceil(self.nbytes / (128 * 2**20)))
        return max(1, math.ceil((self.num_rows or 0) / _ROWS_PER_DEFAULT_SHARD))

    def batches(self, batch_size: int | None = None, *, shuffle: bool = False, seed: int = 0,
                epoch: int = 0, shuffle_buffer: int | None = None,
                prefetch: int | None = None,
                transform: Callable[[Batch], Batch] | None = None) -> Iterator[Batch]:
        """Stream the whole dataset as mini-batches in bounded memory.

        Parameters
        ----------
        batch_size : int, optional
            Rows per batch (default from the memory budget).
        shuffle : bool
            Visit shards in an order drawn from ``(seed, epoch)`` and shuffle rows within
            a window of ``shuffle_buffer`` rows (of one piece, when the dataset is cached:
            its rows are then gathered in that order straight from the cache).
        seed, epoch : int
            Reproducible shuffling: the same pair gives the same order.
        shuffle_buffer : int, optional
            Rows in the shuffle window (default: 16 batches).
        prefetch : int, optional
            Batches decoded ahead in a background thread (default from the budget).
        transform : callable, optional
            ``transform(batch) -> batch`` applied to every batch in that thread too (a
            model's feature preparation, say), so that it overlaps the caller's work.
        """
        size = batch_size or self.batch_size
        shards = self.shards()
        window = None
        if shuffle:
            window = ShuffleWindow(np.random.default_rng([seed, epoch]), shuffle_buffer or 16 * size)
            shards = [shards[i] for i in window.rng.permutation(len(shards))]
        if window is not None and self._reader.random_access:
            # Each piece gathers its rows in shuffled order: one copy, no window concat.
            stream: Iterator[Batch] = chain.from_iterable(
                shard.batches(size, shuffle=window) for shard in shards)
        else:
            stream = chain.from_iterable(shard.batches(size) for shard in shards)
            if window is not None:
                stream = window.apply(stream, size)
        if transform is not None:
            stream = map(transform, stream)
        depth = self.budget.prefetch if prefetch is None else prefetch
        return read_ahead(stream, depth)

    def split(self, validation: float = 0.1, *, seed: int = 0,
              key: str | None = None) -> tuple[Dataset, Dataset]:
        """Return ``(train, validation)`` views split by a stable hash of each row.

        Parameters
        ----------
        validation : float
            Expected fraction of rows in the validation set, in (0, 1).
        seed : int
            Different seeds give independent splits.
        key : str, optional
            A column to hash instead of the row position (e.g. a user id, so all rows of
            a user fall on one side).

        Notes
        -----
        The split depends only on each row (its file and position, or its key), so it is
        the same on every engine, epoch, shard count and batch size, and the two sides
        never share a row.
        """
        if not isinstance(validation, float | int) or not 0 < validation < 1:
            raise InvalidParameterError(
                f"The 'validation' parameter of Dataset.split must be a float in the range (0, 1). "
                f"Got {validation!r} instead.")
        if key is not None and key not in self.columns:
            raise SchemaError(f"The split key column {key!r} is not in the dataset; "
                              f"columns are {self.columns}.")
        if self._reader.holdout is not None:
            raise InvalidParameterError("This dataset is already one side of a split.")
        sides = []
        for side in (False, True):
            view = copy.copy(self)
            view._reader = self._reader.with_holdout(Holdout(float(validation), seed, key, side))
            sides.append(view)
        return sides[0], sides[1]

    def select(self, features: Sequence[str], *, target: str | None = None,
               weight: str | None = None, categorical: Sequence[str] = (),
               passthrough: Sequence[str] = ()) -> Dataset:
        """Return a view of the same rows with other column roles.

        Parameters
        ----------
        features : sequence of str
            The feature columns, in order; other columns are not read.
        target, weight : str, optional
        categorical : sequence of str
            Numeric columns to treat as categorical.
        passthrough : sequence of str
            Columns carried untouched in ``Batch.extra`` (ids, keys).
        """
        missing = [name for name in passthrough if name not in self.columns]
        if missing:
            raise SchemaError(f"Column(s) {missing} are not in the dataset; columns are {self.columns}.")
        view = copy.copy(self)
        layout = infer_layout(self.schema, target=target, features=list(features), weight=weight,
                              categorical=categorical, where="the dataset")
        view._reader = replace(self._reader, layout=replace(layout, passthrough=tuple(passthrough)))
        return view

    def fingerprint(self) -> str:
        """A short hash that changes when the data or the column roles change.

        Files count by path, size and modification time (no data is read); in-memory
        tables by a vectorised hash of their values.
        """
        import hashlib

        from bigfit.data._hashing import hash_array

        digest = hashlib.sha256(repr((self.format, self._reader.layout, self._reader.holdout,
                                      str(self.schema))).encode())
        if self._table is not None:
            for column in self._table.columns:
                digest.update(np.uint64(hash_array(column).sum(dtype=np.uint64)).tobytes())
        else:
            for found in self._found:
                digest.update(f"{found.path}|{found.token}".encode())
        return digest.hexdigest()[:32]

    def with_budget(self, budget: Budget) -> Dataset:
        """Return a view of this dataset that reads with another memory budget."""
        view = copy.copy(self)
        view.budget = budget
        view._reader = replace(self._reader, batch_size=budget.batch_size)
        return view

    def cache(self, location: str | os.PathLike[str] | None = None) -> Dataset:
        """Return a view of this dataset that keeps its decoded batches in a binary cache.

        The first pass over each piece decodes the files as usual and writes the decoded
        arrays while yielding; later passes (epochs, workers, other views) memory-map
        them and skip decoding.  Every row is cached before the holdout split, so the
        two sides of :meth:`split` share one cache whether ``cache()`` is called before
        or after it.  A changed source file is detected when its piece is opened and
        decoded again.

        Parameters
        ----------
        location : {"memory", "disk"}, path-like or None
            ``"memory"``: RAM (``/dev/shm``), shared by worker processes and removed
            when this process exits.  ``"disk"``: ``BIGFIT_CACHE_DIR`` or
            ``~/.cache/bigfit``, kept between runs.  A local directory: kept there.
            None: memory when the estimated decoded size fits half the memory budget,
            else disk.

        Returns
        -------
        Dataset
            A view reading through the cache (``self`` for in-memory tables).

        Notes
        -----
        Batches read from the cache are read-only views of the mapped files: copy an
        array before modifying it in place.  A memory cache stays mapped in each process
        that read it, so its pages count in that process's resident set size (RSS); they
        are the cache's own pages in RAM, not copies.  A disk cache is unmapped behind
        each pass.

        Examples
        --------
        >>> import numpy as np, pyarrow as pa, pyarrow.parquet as pq, tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> pq.write_table(pa.table({"x": np.arange(6.0), "y": [0, 1] * 3}), f"{root}/d.parquet")
        >>> ds = Dataset(f"{root}/d.parquet", target="y").cache(os.path.join(root, "cache"))
        >>> [len(b) for b in ds.batches(batch_size=4)]  # decodes, and writes the cache
        [4, 2]
        >>> [b.X.sum() for b in ds.batches(batch_size=4)]  # reads the cache
        [np.float32(6.0), np.float32(9.0)]
        """
        if self._table is not None or isinstance(self._reader.format, SparkFrameFormat | RayDatasetFormat):
            return self  # in memory, or read by its engine (Ray keeps blocks in its object store)
        view = copy.copy(self)
        view._reader = cached_reader(
            self._reader, location, budget=self.budget, rows=self.num_rows, nbytes=self.nbytes,
            sample=self.files[0] if self._by_bytes and self.files else None)
        return view

    def _check_rows(self) -> None:
        rows = self.num_rows
        if rows == 0 or (self._by_bytes and self.nbytes == 0):
            raise EmptyDatasetError(f"The dataset has no rows ({len(self._found)} file(s)).")
        target = self.target
        if target is None:
            return
        all_null = pa.types.is_null(self.schema.field(target).type) or (
            rows is not None and self._null_counts is not None
            and self._null_counts.get(target) == rows)
        if all_null:
            raise SchemaError(f"The target column {target!r} holds no value (every row is null); "
                              "choose another target= or fix the data.")


def _open_engine_source(source: Any) -> tuple[Format, pa.Schema, list[FileUnits], str] | None:
    """A Spark DataFrame or Ray Dataset as (format, schema, units, name); None for anything else."""
    if is_spark_frame(source):
        return (*open_spark_frame(source), "the Spark DataFrame")
    if is_ray_dataset(source):
        return (*open_ray_dataset(source), "the Ray Dataset")
    return None


def _as_table(source: Any) -> pa.Table | None:
    """Return an in-memory source as a pyarrow Table, or None for paths and URLs."""
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, dict):
        return pa.table({str(k): pa.array(np.asarray(v)) if not isinstance(v, pa.Array | pa.ChunkedArray)
                         else v for k, v in source.items()})
    if isinstance(source, np.ndarray):
        if source.ndim != 2:
            raise InvalidParameterError(f"A numpy source must be 2-D; got shape {source.shape}.")
        return pa.table({f"x{j}": source[:, j] for j in range(source.shape[1])})
    module = type(source).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(source, preserve_index=False)
    if module == "polars":
        return source.to_arrow()
    return None


def _memory_units(table: pa.Table) -> FileUnits:
    rows = table.num_rows
    row_bytes = max(table.nbytes // max(rows, 1), 1)
    units = [Unit(i, min(UNIT_ROWS, rows - start), min(UNIT_ROWS, rows - start) * row_bytes, first_row=start)
             for i, start in enumerate(range(0, rows, UNIT_ROWS))]
    return FileUnits("", 0, units)


def _scan(fmt: Format, filesystem: Any, found: list[FoundFile],
          ) -> tuple[pa.Schema, list[FileUnits], dict[str, int] | None]:
    """Read every file's metadata (in threads) and check that their columns agree."""
    text = isinstance(fmt, TextFormat)

    def scan(index: int) -> FileScan:
        f = found[index]
        return fmt.scan(filesystem, f.path, f.size, want_schema=not text or index == 0)

    if len(found) > 4:
        with ThreadPoolExecutor(max_workers=16) as pool:
            scans = list(pool.map(scan, range(len(found))))
    else:
        scans = [scan(i) for i in range(len(found))]
    schema = scans[0].schema
    assert schema is not None
    for f, s in zip(found[1:], scans[1:], strict=True):
        if s.schema is not None:
            check_same_roles(schema, found[0].path, s.schema, f.path)
    schema = _with_partitions(schema, found)
    files = [FileUnits(f.path, hash_bytes(f.relative), s.units, f.partition, f.token)
             for f, s in zip(found, scans, strict=True)]
    null_counts: dict[str, int] | None = {}
    for s in scans:
        if s.null_counts is None:
            null_counts = None
            break
        for name, count in s.null_counts.items():
            null_counts[name] = null_counts.get(name, 0) + count
    return schema, files, null_counts


def _with_partitions(schema: pa.Schema, found: list[FoundFile]) -> pa.Schema:
    values: dict[str, set[str]] = {}
    for f in found:
        for key, value in f.partition:
            values.setdefault(key, set()).add(value)
    for key, seen in values.items():
        if key in schema.names:
            continue
        numeric = all(_is_int(v) for v in seen)
        type_ = pa.int64() if numeric else pa.dictionary(pa.int32(), pa.string())
        schema = schema.append(pa.field(key, type_))
    return schema


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _row_bytes(schema: pa.Schema, layout: Layout) -> int:
    """Estimate the decoded bytes of one row of the columns the layout reads."""
    total = 0
    for name in layout.columns:
        role = role_of(schema.field(name).type)
        total += 16 if role == "categorical" else 8
    return total + 4 * len(layout.numeric_features)
