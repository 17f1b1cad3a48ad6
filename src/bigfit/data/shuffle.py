"""Bounded shuffling of a stream of batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from bigfit.data.batch import Batch


def shuffle_batches(batches: Iterable[Batch], *, buffer_rows: int, batch_size: int,
                    rng: np.random.Generator) -> Iterator[Batch]:
    """Shuffle rows within a window of about ``buffer_rows`` rows.

    Batches are gathered until the window is full, its rows permuted, and batches of
    ``batch_size`` emitted; memory stays bounded by the window.
    """
    pending: list[Batch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += len(batch)
        if rows >= buffer_rows:
            yield from _emit(pending, batch_size, rng)
            pending, rows = [], 0
    if pending:
        yield from _emit(pending, batch_size, rng)


def _emit(pending: list[Batch], batch_size: int, rng: np.random.Generator) -> Iterator[Batch]:
    window = Batch.concat(pending)
    order = rng.permutation(len(window))
    for start in range(0, len(order), batch_size):
        yield window.take(order[start:start + batch_size])
