"""Holdout split by a stable hash of each row's identifier or key column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bigfit.data._hashing import hash_array, mix64


@dataclass(frozen=True, slots=True)
class Holdout:
    """Keep the training or the validation side of a hashed split.

    A row is in validation when the hash of (seed, row identifier or key value) falls
    below ``fraction`` of the hash range, so the assignment depends on nothing but the
    row itself: not the engine, epoch, shard count or batch size.
    """

    fraction: float
    seed: int = 0
    key: str | None = None
    validation: bool = False

    def split_ids(self, record_batch: pa.RecordBatch, row_id: np.ndarray) -> np.ndarray:
        """Return what the split hashes for each row: the key's hash, or the row identifier."""
        return hash_array(record_batch.column(self.key)) if self.key else row_id

    def mask(self, ids: np.ndarray) -> np.ndarray:
        """Return a boolean mask of the rows on this side, from :meth:`split_ids`."""
        draws = mix64(ids, seed=self.seed ^ 0x5EED)
        threshold = np.uint64(min(int(self.fraction * 2.0**64), 2**64 - 1))
        in_validation = draws < threshold
        return in_validation if self.validation else ~in_validation
