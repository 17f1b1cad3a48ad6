"""Shards: balanced groups of pieces that a worker reads by itself."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise

from bigfit.data.batch import Batch
from bigfit.data.pieces import Piece, Unit
from bigfit.data.prefetch import prefetch as read_ahead
from bigfit.data.reader import Reader
from bigfit.data.shuffle import ShuffleWindow


@dataclass(frozen=True)
class Shard:
    """A slice of a dataset (pieces of files), never the data itself.

    A shard is small to pickle: a worker that receives one reads its rows from the
    shared path or URL with :meth:`batches`.
    """

    index: int
    pieces: tuple[Piece, ...]
    reader: Reader

    @property
    def num_rows(self) -> int | None:
        """Rows in the shard when known from metadata (before any holdout split), else None."""
        counts = [piece.rows for piece in self.pieces]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    @property
    def nbytes(self) -> int:
        """Bytes on disk that the shard covers."""
        return sum(piece.nbytes for piece in self.pieces)

    def batches(self, batch_size: int | None = None, *, prefetch: int = 0,
                shuffle: ShuffleWindow | None = None,
                holdout_weights: bool = False) -> Iterator[Batch]:
        """Yield the shard's rows as batches of at most ``batch_size`` rows.

        Parameters
        ----------
        batch_size : int, optional
            Rows per batch; by default the size chosen from the memory budget.
        prefetch : int
            Batches to decode ahead in a background thread.
        shuffle : ShuffleWindow, optional
            Shuffle each piece's rows within this window.
        holdout_weights : bool
            Rows on the other side of a holdout split may be kept with weight 0 (the
            batch's ``w``) instead of removed: a cached batch then stays a view of the
            cache, with no copy (when the other side is at most a third of its rows).  For
            passes that only add up weighted terms (a loss and its gradient); a reader that
            cannot do it removes them.  Unshuffled reads only.
        """
        if shuffle is None:
            parts = (self.reader.batches(piece, batch_size, holdout_weights=holdout_weights)
                     for piece in self.pieces)
        else:
            parts = (self.reader.shuffled_batches(piece, batch_size, shuffle)
                     for piece in self.pieces)
        return read_ahead(chain.from_iterable(parts), prefetch)

    def __repr__(self) -> str:
        described = ", ".join(piece.describe() for piece in self.pieces[:2])
        more = f" +{len(self.pieces) - 2} pieces" if len(self.pieces) > 2 else ""
        rows = f", {self.num_rows} rows" if self.num_rows is not None else f", {self.nbytes} bytes"
        return f"Shard({self.index}: {described}{more}{rows})"


@dataclass(frozen=True, slots=True)
class FileUnits:
    """A file's units with what every piece of it shares."""

    path: str
    file_id: int
    units: list[Unit]
    partition: tuple[tuple[str, str], ...] = ()
    token: str = ""


def plan_shards(files: Sequence[FileUnits], n: int, *, by_bytes: bool) -> list[list[Piece]]:
    """Split the units of ``files``, in order, into at most ``n`` contiguous balanced groups.

    Groups are balanced by rows (bytes for text formats, whose row counts are unknown)
    and cut at unit boundaries, so each is within about one unit of the ideal size;
    consecutive units of one file merge into one piece.
    """
    flat = [(f, u) for f in files for u in f.units]
    if not flat:
        return []
    weights = [u.nbytes if by_bytes or u.rows is None else u.rows for _, u in flat]
    n = max(1, min(n, len(flat)))
    cuts = _cut_points(weights, n)
    bounds = [0, *cuts, len(flat)]
    groups = [flat[a:b] for a, b in pairwise(bounds) if b > a]
    return [_merge(group, split_text=by_bytes) for group in groups]


def _cut_points(weights: list[int], n: int) -> list[int]:
    """Positions that cut ``weights`` into ``n`` contiguous groups of near-equal sums.

    Each group aims at the weight still to place divided by the groups still to fill, and
    ends at the unit boundary nearest that aim, so an early error is spread over later groups.
    """
    cuts: list[int] = []
    remaining, start, running = sum(weights), 0, 0
    for position, weight in enumerate(weights):
        groups_left = n - len(cuts)
        if groups_left <= 1:
            break
        aim = remaining / groups_left
        must_cut = len(weights) - position == groups_left - 1  # one unit per group left
        if position > start and (must_cut or running + weight / 2 > aim):
            cuts.append(position)
            remaining -= running
            start, running = position, 0
        running += weight
    return cuts


def _merge(group: list[tuple[FileUnits, Unit]], *, split_text: bool) -> list[Piece]:
    pieces: list[Piece] = []
    for file, unit in group:
        last = pieces[-1] if pieces else None
        mergeable = (last is not None and last.path == file.path and unit.byte_range is None
                     and last.units[-1] + 1 == unit.index)
        if mergeable:
            assert last is not None
            pieces[-1] = Piece(last.path, last.file_id, (*last.units, unit.index),
                               (last.rows or 0) + (unit.rows or 0), last.nbytes + unit.nbytes,
                               first_row=last.first_row, partition=last.partition, token=last.token)
        else:
            pieces.append(Piece(file.path, file.file_id, (unit.index,), unit.rows, unit.nbytes,
                                first_row=unit.first_row, byte_range=unit.byte_range,
                                partition=file.partition, token=file.token))
    return pieces
