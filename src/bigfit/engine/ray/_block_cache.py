"""The driver's record of the decoded shards held in the object store, within a byte budget.

Policy only (no Ray calls), so it is tested without a cluster.  Blocks are named by
shard key and dropped least recently used first; the blocks a ``map`` call already
uses are never dropped for another of its shards, so a dataset larger than the budget
keeps a stable part cached instead of evicting itself each iteration.  Dropping the
driver's reference is always safe: a task that received the block keeps it alive
until it ends.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass
class _Held:
    ref: Any
    nbytes: int
    used_in: int  # the call that last used it


class BlockCache:
    """Object references of decoded shards, at most ``capacity`` bytes of them.

    Parameters
    ----------
    capacity : int
        Bytes the blocks may take in the object store (reserved estimates included).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._reserved: dict[str, int] = {}
        self._call = 0

    @property
    def nbytes(self) -> int:
        """Bytes held and reserved."""
        return sum(held.nbytes for held in self._held.values()) + sum(self._reserved.values())

    def __len__(self) -> int:
        return len(self._held)

    def begin_call(self) -> None:
        """Mark the start of a ``map`` call: what it uses from now on is not evicted for it."""
        self._call += 1

    def get(self, key: str) -> Any:
        """Return the reference of ``key``'s block (marking it used), or None."""
        held = self._held.get(key)
        if held is None:
            return None
        held.used_in = self._call
        self._held.move_to_end(key)
        return held.ref

    def reserve(self, key: str, estimate: int) -> bool:
        """Reserve room for a block about to be built; False when it does not fit.

        Blocks not used by the current call are evicted, least recently used first, to
        make room.  A key already held or being built is not reserved again.
        """
        if key in self._held or key in self._reserved or estimate > self.capacity:
            return False
        if not self._make_room(estimate):
            return False
        self._reserved[key] = estimate
        return True

    def commit(self, key: str, ref: Any, nbytes: int) -> None:
        """Record the block built for a reservation (its measured size replaces the estimate)."""
        self._reserved.pop(key, None)
        self._held[key] = _Held(ref, nbytes, self._call)
        self._make_room(0)

    def cancel(self, key: str) -> None:
        """Give up a reservation whose block was not built."""
        self._reserved.pop(key, None)

    def clear(self) -> None:
        """Drop every reference (the object store frees the blocks no task still uses)."""
        self._held.clear()
        self._reserved.clear()

    def _make_room(self, extra: int) -> bool:
        while self.nbytes + extra > self.capacity:
            oldest = next(iter(self._held), None)
            if oldest is None or self._held[oldest].used_in == self._call:
                return False
            del self._held[oldest]
        return True
