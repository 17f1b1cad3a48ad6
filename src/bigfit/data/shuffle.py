"""Bounded shuffling of a stream of batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from bigfit.data.batch import Batch

_FIELDS = ("X", "y", "w", "hashes", "codes", "row_id")


@dataclass(frozen=True)
class ShuffleWindow:
    """How a read shuffles its rows: within windows of ``rows`` rows, drawing from ``rng``."""

    rng: np.random.Generator
    rows: int

    def apply(self, batches: Iterable[Batch], batch_size: int) -> Iterator[Batch]:
        """Shuffle ``batches`` with :func:`shuffle_batches` in this window."""
        return shuffle_batches(batches, buffer_rows=self.rows, batch_size=batch_size, rng=self.rng)


def shuffle_batches(batches: Iterable[Batch], *, buffer_rows: int, batch_size: int,
                    rng: np.random.Generator) -> Iterator[Batch]:
    """Shuffle rows within a window of about ``buffer_rows`` rows.

    Batches are gathered until the window is full, its rows permuted, and batches of
    ``batch_size`` emitted; memory stays bounded by the window.
    """
    window = _Window()
    pending: list[Batch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += len(batch)
        if rows >= buffer_rows:
            yield from window.emit(pending, batch_size, rng)
            pending, rows = [], 0
    if pending:
        yield from window.emit(pending, batch_size, rng)


class _Window:
    """The rows of one shuffle window, copied into arrays reused from window to window.

    Reuse matters: a fresh window of a few hundred megabytes would be page-faulted and
    zeroed by the kernel on every fill.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def emit(self, pending: list[Batch], batch_size: int,
             rng: np.random.Generator) -> Iterator[Batch]:
        whole = self._gather(pending)
        order = rng.permutation(len(whole))
        for start in range(0, len(order), batch_size):
            yield whole.take(order[start:start + batch_size])

    def _gather(self, pending: list[Batch]) -> Batch:
        if len(pending) == 1 or pending[0].extra is not None:
            return Batch.concat(pending)
        rows = sum(len(b) for b in pending)
        fields: dict[str, np.ndarray | None] = {}
        for name in _FIELDS:
            parts = [getattr(b, name) for b in pending]
            if parts[0] is None:
                fields[name] = None
                continue
            out = self._buffer(name, rows, parts[0])
            np.concatenate(parts, out=out)
            fields[name] = out
        return Batch(**fields)

    def _buffer(self, name: str, rows: int, like: np.ndarray) -> np.ndarray:
        shape = (rows, *like.shape[1:])
        buffer = self._buffers.get(name)
        if buffer is None or buffer.dtype != like.dtype or buffer.shape[1:] != like.shape[1:] \
                or len(buffer) < rows:
            buffer = self._buffers[name] = np.empty(shape, dtype=like.dtype)
        return buffer[:rows]
