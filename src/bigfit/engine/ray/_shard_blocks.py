"""Decoded shards as object-store blocks: which shards qualify, their keys, building and reading them.

A *block* holds the decoded arrays of one shard of a cached dataset
(:meth:`bigfit.Dataset.cache`): for each of its pieces, every row before any holdout
split, exactly as :mod:`bigfit.data.cache` stores a piece (float32 features, hashes,
target, weights, row ids, split ids, string labels).  A task builds a block while its
function makes the first pass over the shard, by reading through a
:class:`~bigfit.data.cache.CachingReader` pointed at a scratch directory of its worker,
and returns it to the object store.  Later tasks read the block through a
:class:`BlockReader`, whose batches are read-only views of the object store's memory,
so neither the files nor the decoding are touched again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bigfit.data.batch import Batch
from bigfit.data.cache import CachingReader, MappedEntry, estimate_cache_bytes, open_entry, piece_key
from bigfit.data.pieces import Piece
from bigfit.data.reader import Reader
from bigfit.data.shards import Shard

# One piece: (rows, arrays by name, labels of a string target or None).
Entry = tuple[int, dict[str, np.ndarray], pa.Array | None]
Block = tuple[Entry, ...]

_keys: dict[int, tuple[weakref.ref[Shard], str]] = {}


def shards_in(item: Any) -> list[Shard]:
    """Return the shards a task item reads: the item itself, or the shards in a list or tuple."""
    if isinstance(item, Shard):
        return [item]
    if isinstance(item, list | tuple):
        return [part for part in item if isinstance(part, Shard)]
    return []


def with_shards(item: Any, shards: Sequence[Shard]) -> Any:
    """Return ``item`` with its shards (in the order of :func:`shards_in`) replaced by ``shards``."""
    if isinstance(item, Shard):
        return shards[0]
    replacements = iter(shards)
    parts = [next(replacements) if isinstance(part, Shard) else part for part in item]
    return parts if isinstance(item, list) else type(item)(parts)


def is_cacheable(shard: Shard) -> bool:
    """Whether ``shard`` belongs to a cached dataset whose pieces the binary cache stores."""
    reader = shard.reader
    return (type(reader) is CachingReader and not reader.layout.passthrough
            and all(piece.table is None for piece in shard.pieces))


def shard_key(shard: Shard) -> str:
    """Name the decoded arrays of ``shard``: its pieces' cache keys and their files' versions.

    The holdout side is not part of it: both sides of a split share the block, as they
    share the binary cache.  Keys are remembered per shard object while it lives, since
    estimators pass the same shards every iteration and a key costs a few hashes.
    """
    known = _keys.get(id(shard))
    if known is not None and known[0]() is shard:
        return known[1]
    digest = hashlib.blake2b(digest_size=16)
    for piece in shard.pieces:
        digest.update(f"{piece_key(shard.reader, piece)}|{piece.token}\n".encode())
    key = digest.hexdigest()
    _keys[id(shard)] = (weakref.ref(shard, functools.partial(_forget, id(shard))), key)
    return key


def _forget(shard_id: int, _: object) -> None:
    _keys.pop(shard_id, None)


def estimate_bytes(shard: Shard) -> int:
    """Estimate the bytes of ``shard``'s block (from its file bytes for text formats)."""
    rows = shard.num_rows
    if rows is None:
        return shard.nbytes
    return estimate_cache_bytes(shard.reader, rows=rows, nbytes=shard.nbytes, sample=None)


def building(shard: Shard, directory: Path) -> Shard:
    """Return ``shard`` reading through a binary cache in ``directory`` (a worker's scratch space)."""
    reader = dataclasses.replace(shard.reader, directory=str(directory))
    return dataclasses.replace(shard, reader=reader)


def collect_block(shard: Shard) -> Block | None:
    """Return the block a :func:`building` shard left in its directory, or None if a piece
    was not read to its end."""
    reader = shard.reader
    assert isinstance(reader, CachingReader)
    entries = []
    for piece in shard.pieces:
        root = Path(reader.directory, piece_key(reader, piece))
        versions = [path for path in root.iterdir() if not path.name.startswith(".")] \
            if root.is_dir() else []
        mapped = open_entry(versions[0]) if len(versions) == 1 else None
        if mapped is None:
            return None
        entries.append((mapped.rows, mapped.arrays, mapped.labels))
    return tuple(entries)


def block_bytes(block: Block) -> int:
    """Bytes of the arrays of ``block``."""
    return sum(sum(a.nbytes for a in arrays.values()) + (labels.nbytes if labels is not None else 0)
               for _, arrays, labels in block)


def reading(shard: Shard, block: Block) -> Shard:
    """Return ``shard`` reading its rows from ``block`` instead of its files."""
    fields = {f.name: getattr(shard.reader, f.name) for f in dataclasses.fields(Reader)}
    reader = BlockReader(**fields, entries=dict(zip(shard.pieces, block, strict=True)))
    return dataclasses.replace(shard, reader=reader)


@dataclass(frozen=True)
class BlockReader(Reader):
    """A reader whose pieces are decoded arrays in memory (a block fetched from the object store).

    Built inside a task; it never travels.  Batches are read-only views of the block,
    filtered to this reader's side of the holdout split.
    """

    entries: Mapping[Piece, Entry] = field(default_factory=dict)

    def batches(self, piece: Piece, batch_size: int | None = None, *,
                holdout_weights: bool = False) -> Iterator[Batch]:
        """Yield ``piece``'s rows on this reader's side of the holdout split (the other
        side's with weight 0, with ``holdout_weights``: see :meth:`MappedEntry.batches`)."""
        rows, arrays, labels = self.entries[piece]
        yield from MappedEntry(rows, arrays, [], labels).batches(
            batch_size or self.batch_size, self.holdout, holdout_weights=holdout_weights)
