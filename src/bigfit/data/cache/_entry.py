"""Read a cache entry: memory-mapped arrays yielded as batches without decoding or copying."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from bigfit.data.batch import Batch
from bigfit.data.cache._files import LABELS, META, array_path, logger, read_meta
from bigfit.data.holdout import Holdout
from bigfit.data.shuffle import ShuffleWindow

# Pages are released this many batches behind the one being yielded, so that batches
# still queued by a read-ahead thread are not faulted in twice.
RELEASE_LAG = 4
_CAN_RELEASE = hasattr(mmap, "MADV_DONTNEED")
# Entries mapped with ``keep``, by directory: they stay mapped for this process's life.
_kept: dict[Path, MappedEntry] = {}


class MappedEntry:
    """The arrays of one cached piece, memory-mapped read-only.

    Attributes
    ----------
    rows : int
        Rows in the piece (all of them: the holdout filter is applied when reading).
    arrays : dict of str to ndarray
        Read-only views over the mapped files, one per stored array.
    keep : bool
        The pages stay mapped after a pass (see :func:`open_entry`): :meth:`release`
        does nothing.
    """

    def __init__(self, rows: int, arrays: dict[str, np.ndarray],
                 maps: list[tuple[int, mmap.mmap]], labels: pa.Array | None, *,
                 keep: bool = False) -> None:
        self.rows, self.arrays, self.maps, self.labels = rows, arrays, maps, labels
        self.keep = keep
        # (holdout, first row, stop row) -> (rows on its side, whether the others may stay
        # with weight 0, None until asked): remembered while the entry is kept, since its
        # rows never change.
        self._sides: dict[tuple[Holdout, int, int], tuple[np.ndarray, bool | None]] = {}

    def batches(self, batch_size: int, holdout: Holdout | None,
                shuffle: ShuffleWindow | None = None, *,
                holdout_weights: bool = False) -> Iterator[Batch]:
        """Yield the piece's rows on ``holdout``'s side in batches of up to ``batch_size`` rows.

        Batches without filtered rows are views into the mapped files (read-only; copy
        before writing into them).  With ``holdout_weights``, batches that hold rows of
        the other side stay views too: those rows get weight 0 instead of being copied
        out (see :meth:`_side`).  Memory pages of rows already passed are released
        as the stream moves on, so a full pass keeps only a few batches resident.  With
        ``shuffle``, each window of rows is gathered in a random order instead (copies).
        """
        if shuffle is not None:
            yield from self._shuffled(batch_size, holdout, shuffle)
            return
        a = self.arrays
        for start in range(0, self.rows, batch_size):
            stop = min(start + batch_size, self.rows)
            batch = Batch(X=a["X"][start:stop], y=self._target(slice(start, stop)),
                          w=_cut(a, "w", start, stop), hashes=_cut(a, "hashes", start, stop),
                          row_id=a["row_id"][start:stop])
            if holdout is not None:
                batch = self._side(batch, holdout, start, stop, holdout_weights)
            if len(batch):
                yield batch
            self.release(max(start - RELEASE_LAG * batch_size, 0))
        self.release(self.rows)

    def _shuffled(self, batch_size: int, holdout: Holdout | None,
                  shuffle: ShuffleWindow) -> Iterator[Batch]:
        from bigfit.data._kernels import take_rows  # imports numba: only when shuffling

        a = self.arrays
        window = max(shuffle.rows, batch_size)
        for start in range(0, self.rows, window):
            stop = min(start + window, self.rows)
            rows = np.arange(start, stop)
            if holdout is not None:
                rows = rows[self._on_side(holdout, start, stop)]
            shuffle.rng.shuffle(rows)
            for first in range(0, len(rows), batch_size):
                index = rows[first:first + batch_size]
                yield Batch(X=take_rows(a["X"], index), y=self._target(index),
                            w=_gather(a, "w", index), hashes=_gather(a, "hashes", index),
                            row_id=np.take(a["row_id"], index))
            self.release(stop)

    def _side(self, batch: Batch, holdout: Holdout, start: int, stop: int,
              weights: bool) -> Batch:
        """``batch`` (rows ``start:stop``) on ``holdout``'s side: a copy without the other
        rows, or with ``weights`` the same rows with weight 0 on the others when they may
        stay (see :func:`_may_weigh_out`)."""
        keep, weighable = self._sides.get((holdout, start, stop)) or \
            (self._on_side(holdout, start, stop), None)
        if weights and weighable is None:
            weighable = _may_weigh_out(batch, keep)
        if self.keep:
            self._sides[holdout, start, stop] = keep, weighable
        if keep.all():
            return batch
        if weights and weighable:
            w = keep.astype(np.float32) if batch.w is None else np.where(keep, batch.w, np.float32(0))
            return batch.replace(w=w)
        return batch.take(keep)

    def _on_side(self, holdout: Holdout, start: int, stop: int) -> np.ndarray:
        a = self.arrays
        return holdout.mask(a["split"][start:stop] if holdout.key else a["row_id"][start:stop])

    def _target(self, rows: slice | np.ndarray) -> np.ndarray | None:
        y = self.arrays.get("y")
        if y is None:
            return None
        values = y[rows] if isinstance(rows, slice) else np.take(y, rows)
        if self.labels is None:
            return values
        missing = values < 0
        indices = pa.array(values, mask=missing if missing.any() else None)
        return self.labels.take(indices).to_numpy(zero_copy_only=False)

    def release(self, row: int) -> None:
        """Drop this process's mapping of the pages of rows before ``row``.

        The files are mapped shared and read-only, so released pages are only unmapped:
        a view that touches them again faults them back in from the page cache.
        """
        if self.keep or not _CAN_RELEASE:
            return
        for row_bytes, mapped in self.maps:
            end = min(row * row_bytes, len(mapped)) // mmap.PAGESIZE * mmap.PAGESIZE
            if end > 0:
                mapped.madvise(mmap.MADV_DONTNEED, 0, end)


def _may_weigh_out(batch: Batch, keep: np.ndarray) -> bool:
    """Whether the rows ``keep`` leaves out may stay in ``batch`` with weight 0.

    Only when they are at most a third of it: a pass computes on every row it is given,
    so for more (the validation side of a split, say) copying the others out costs less.
    And not when one of their features or numeric targets is not finite, as its product
    with a weight of 0 would still turn a weighted sum into NaN.
    """
    other = np.flatnonzero(~keep)
    if 3 * len(other) > len(keep):
        return False
    y = batch.y
    return bool(np.isfinite(np.take(batch.X, other, axis=0)).all()) and \
        (y is None or y.dtype.kind != "f" or bool(np.isfinite(y[other]).all()))


def _cut(arrays: dict[str, np.ndarray], name: str, start: int, stop: int) -> np.ndarray | None:
    values = arrays.get(name)
    return None if values is None else values[start:stop]


def _gather(arrays: dict[str, np.ndarray], name: str, index: np.ndarray) -> np.ndarray | None:
    values = arrays.get(name)
    return None if values is None else np.take(values, index, axis=0)


def open_entry(entry: Path, *, keep: bool = False) -> MappedEntry | None:
    """Map a complete entry, or return None when there is none (or it is damaged).

    A damaged entry (array sizes that disagree with its metadata) is logged; the caller
    rebuilds it.  With ``keep``, the mapping stays open in this process and later calls
    return it: each pass then reads pages already mapped, instead of faulting every page
    in again (a fifth of a pass's time over a cache in RAM).  Use it for caches in RAM,
    whose pages are resident anyway; a kept entry is dropped once its directory is gone.
    """
    if keep:
        kept = _kept.get(entry)
        if kept is not None and (entry / META).exists():
            return kept
        for path in [path for path in list(_kept) if not (path / META).exists()]:
            _kept.pop(path, None)  # rebuilt or removed: let its pages go (another thread may too)
    meta = read_meta(entry)
    if meta is None:
        return None
    try:
        mapped = _map(entry, meta)
    except FileNotFoundError:
        return None  # replaced by a concurrent builder between reading meta and the arrays
    except (OSError, ValueError, KeyError) as error:
        logger.warning("Rebuilding the damaged cache entry %s: %s", entry, error)
        return None
    if keep:
        mapped.keep = True
        _kept[entry] = mapped
    return mapped


def _map(entry: Path, meta: dict[str, Any]) -> MappedEntry:
    rows = int(meta["rows"])
    arrays: dict[str, np.ndarray] = {}
    maps: list[tuple[int, mmap.mmap]] = []
    for name, spec in meta["arrays"].items():
        dtype, width = np.dtype(spec["dtype"]), spec["width"]
        shape = (rows,) if width is None else (rows, int(width))
        expected = int(np.prod(shape)) * dtype.itemsize
        path = array_path(entry, name)
        size = path.stat().st_size
        if size != expected:
            raise ValueError(f"{path.name} holds {size} bytes, not {expected}")
        if expected == 0:
            continue  # nothing to map; an empty array stands in below
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_SEQUENTIAL"):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        arrays[name] = np.frombuffer(mapped, dtype=dtype).reshape(shape)
        maps.append((expected // rows, mapped))
    for name, spec in meta["arrays"].items():
        if name not in arrays:
            width = spec["width"]
            arrays[name] = np.empty((rows,) if width is None else (rows, int(width)),
                                    dtype=np.dtype(spec["dtype"]))
    labels = _read_labels(entry) if meta.get("labels") else None
    return MappedEntry(rows, arrays, maps, labels)


def _read_labels(entry: Path) -> pa.Array:
    with pa.OSFile(os.fspath(entry / LABELS)) as source:
        return ipc.open_file(source).read_all().column(0).combine_chunks()
