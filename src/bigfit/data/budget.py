"""Turn a memory budget into batch size, read-ahead depth and cache placement."""

from __future__ import annotations

from dataclasses import dataclass

MIN_BATCH = 1_024
MAX_BATCH = 65_536


@dataclass(frozen=True, slots=True)
class Budget:
    """Settings derived from a memory limit.

    Attributes
    ----------
    memory_limit : int
        Bytes the whole job may use.
    batch_size : int
        Rows per batch.
    prefetch : int
        Batches decoded ahead of the consumer.
    """

    memory_limit: int
    batch_size: int
    prefetch: int

    def cache_fits_in_memory(self, cache_bytes: int) -> bool:
        """Whether a cache of ``cache_bytes`` may be kept in RAM (half the budget at most)."""
        return cache_bytes <= self.memory_limit // 2


def plan_budget(memory_limit: int, row_bytes: int, *, workers: int = 1) -> Budget:
    """Choose batch size and read-ahead for ``workers`` streams within ``memory_limit``.

    A batch in flight costs about three times its decoded size (Arrow buffers, the
    float32 copy, and the consumer's temporaries); a sixteenth of each worker's share
    goes to each batch in flight.
    """
    share = max(memory_limit // max(workers, 1), 1)
    rows = share // 16 // max(3 * row_bytes, 1)
    batch_size = int(min(max(rows, MIN_BATCH), MAX_BATCH))
    prefetch = 2 if share >= 256 * 2**20 else 1
    return Budget(memory_limit=memory_limit, batch_size=batch_size, prefetch=prefetch)
