"""The caching reader: decode a piece once, then read it from the cache."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bigfit.data.batch import Batch
from bigfit.data.budget import Budget
from bigfit.data.cache._entry import open_entry
from bigfit.data.cache._files import logger, remove_tree
from bigfit.data.cache._key import piece_key, source_token, version_name
from bigfit.data.cache._location import estimate_cache_bytes, memory_base, resolve_location
from bigfit.data.cache._writer import EntryWriter
from bigfit.data.convert import row_ids, to_batch
from bigfit.data.pieces import Piece
from bigfit.data.reader import Reader
from bigfit.data.shuffle import ShuffleWindow
from bigfit.io.atomic import atomic_directory

# Hidden temporary directories older than this were left by a killed process.
_ABANDONED_SECONDS = 24 * 3600


@dataclass(frozen=True)
class CachingReader(Reader):
    """A :class:`~bigfit.data.reader.Reader` that keeps decoded pieces in a local cache.

    The first read of a piece decodes it through :class:`Reader` and writes every row
    (before the holdout filter) to ``directory`` while yielding batches; later reads
    memory-map the cached arrays.  Each time a piece is opened its source file is
    stat'ed again, and a cache built from another version of it is rebuilt.  Small and
    picklable like any reader: ``directory`` is a local path every worker of this
    machine can open.

    Attributes
    ----------
    directory : str
        The cache's local root directory.
    in_memory : bool
        The directory is in RAM (a ``"memory"`` cache): cached pieces stay memory-mapped
        in each process between passes, instead of being mapped again for every pass.
    """

    random_access: ClassVar[bool] = True

    directory: str = ""
    in_memory: bool = False

    def batches(self, piece: Piece, batch_size: int | None = None, *,
                holdout_weights: bool = False) -> Iterator[Batch]:
        """Yield ``piece`` as batches on this reader's side of the holdout split.

        Batches read from the cache are read-only views into memory-mapped files; with
        ``holdout_weights`` they keep that view and give the other side's rows weight 0
        (see :meth:`MappedEntry.batches`).
        """
        if piece.table is not None or self.layout.passthrough:  # in memory, or columns it
            yield from super().batches(piece, batch_size)     # does not store: read directly
            return
        yield from self._read(piece, batch_size or self.batch_size, None, holdout_weights)

    def shuffled_batches(self, piece: Piece, batch_size: int | None,
                         window: ShuffleWindow) -> Iterator[Batch]:
        """:meth:`batches` shuffled within ``window``; rows of a cached piece are gathered
        in shuffled order straight from the mapped arrays (one copy of each row)."""
        if piece.table is not None or self.layout.passthrough:
            return super().shuffled_batches(piece, batch_size, window)
        return self._read(piece, batch_size or self.batch_size, window)

    def _read(self, piece: Piece, size: int, window: ShuffleWindow | None,
              holdout_weights: bool = False) -> Iterator[Batch]:
        token = source_token(self.filesystem, piece.path)
        entry = Path(self.directory, piece_key(self, piece), version_name(token))
        mapped = open_entry(entry, keep=self.in_memory)
        if mapped is not None:
            yield from mapped.batches(size, self.holdout, window, holdout_weights=holdout_weights)
        elif window is None:
            yield from self._build(piece, size, entry, token)
        else:
            yield from window.apply(self._build(piece, size, entry, token), size)

    def _build(self, piece: Piece, batch_size: int, entry: Path, token: str) -> Iterator[Batch]:
        """Decode ``piece``, writing all its rows to ``entry`` while yielding this side's."""
        keyed = self.holdout is not None and self.holdout.key is not None
        block = piece.units[0] if piece.byte_range is not None else None
        position = 0 if block is not None else piece.first_row
        with atomic_directory(entry, overwrite=True, fsync=False) as tmp:
            writer = EntryWriter(tmp, self.layout, self.schema, keyed=keyed)
            try:
                for record_batch in self.record_batches(piece, batch_size):
                    n = record_batch.num_rows
                    ids = row_ids(piece.file_id, position, n, block=block)
                    position += n
                    batch = to_batch(record_batch, self.layout, ids)
                    split = self.holdout.split_ids(record_batch, ids) if keyed else None
                    writer.append(record_batch, batch, split)
                    if self.holdout is not None:
                        keep = self.holdout.mask(ids if split is None else split)
                        if not keep.all():
                            batch = batch.take(keep)
                    if len(batch):
                        yield batch
            finally:
                writer.close()
            writer.finish({"path": piece.path, "token": token, "piece": piece.describe()})
        logger.debug("Cached %s (%d rows) in %s", piece.describe(), writer.rows, entry)
        _remove_stale(entry)


def _remove_stale(entry: Path) -> None:
    """Remove the other versions of ``entry``'s piece and abandoned temporary directories."""
    now = time.time()
    for sibling in entry.parent.iterdir():
        if sibling.name == entry.name:
            continue
        if sibling.name.startswith("."):  # another process's build in progress, unless old
            try:
                abandoned = now - sibling.stat().st_mtime > _ABANDONED_SECONDS
            except FileNotFoundError:
                continue
            if not abandoned:
                continue
        logger.info("Removing the stale cache entry %s", sibling)
        remove_tree(sibling)


def cached_reader(reader: Reader, location: str | os.PathLike[str] | None, *, budget: Budget,
                  rows: int | None, nbytes: int, sample: str | None) -> CachingReader:
    """Return a caching version of ``reader`` whose cache lives at ``location``.

    Parameters
    ----------
    reader : Reader
        The dataset's reader (a caching one is re-targeted).
    location : {"memory", "disk"}, path-like or None
        See :func:`~bigfit.data.cache.resolve_location`; resolved here, in the driver.
    budget : Budget
        The dataset's memory budget, for the automatic choice.
    rows : int or None
        Rows in the dataset, None when unknown (text formats).
    nbytes : int
        Bytes of the dataset's files.
    sample : str or None
        A file to sample bytes per row from when ``rows`` is unknown.
    """
    estimate = 0 if location is not None else estimate_cache_bytes(
        reader, rows=rows, nbytes=nbytes, sample=sample)
    directory = resolve_location(location, estimate=estimate, budget=budget)
    fields = {f.name: getattr(reader, f.name) for f in dataclasses.fields(Reader)}
    return CachingReader(**fields, directory=os.fspath(directory),
                         in_memory=directory.is_relative_to(memory_base()))
