"""The statistics a :class:`FeatureTransformer` learns from, gathered in one streaming pass.

:class:`FitStats` is filled batch by batch (``partial_fit``, an iterable of batches, or
one shard inside an engine task through :func:`collect_shard`) and partial results
combine with :func:`merge_stats`, so the three paths share one loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.stats import Moments, TopValues
from bigfit.exceptions import SchemaError


@dataclass(frozen=True)
class FitPlan:
    """What to collect: sent to every engine task, so it stays small and picklable."""

    count_values: bool  # per-column TopValues, for one-hot vocabularies
    capacity: int = 1024
    batch_size: int | None = None


class FitStats:
    """Moments of the numeric columns and, when planned, value counts per categorical column."""

    def __init__(self, plan: FitPlan) -> None:
        self.plan = plan
        self.moments = Moments()
        self.values: list[TopValues] = []
        self.n_rows = 0
        self.n_numeric: int | None = None
        self.n_categorical: int | None = None

    def update(self, batch: Batch) -> FitStats:
        """Fold one raw batch in; return self."""
        hashes = categorical_hashes(batch)
        self._fix_layout(batch.X.shape[1], hashes.shape[1])
        self.moments.update(batch.X)
        for j, top in enumerate(self.values):
            top.update(hashes[:, j])
        self.n_rows += len(batch)
        return self

    def update_all(self, batches: Iterable[Batch]) -> FitStats:
        """Fold every batch of an iterable in; return self."""
        for batch in batches:
            self.update(batch)
        return self

    def merge(self, other: FitStats) -> FitStats:
        """Fold the statistics of another part of the data in; return self."""
        if other.n_numeric is None:
            return self
        self._fix_layout(other.n_numeric, other.n_categorical or 0)
        self.moments.merge(other.moments)
        for mine, theirs in zip(self.values, other.values, strict=True):
            mine.merge(theirs)
        self.n_rows += other.n_rows
        return self

    def _fix_layout(self, n_numeric: int, n_categorical: int) -> None:
        if self.n_numeric is None:
            self.n_numeric, self.n_categorical = n_numeric, n_categorical
            if self.plan.count_values:
                self.values = [TopValues(self.plan.capacity) for _ in range(n_categorical)]
        elif (n_numeric, n_categorical) != (self.n_numeric, self.n_categorical):
            raise SchemaError(
                f"Batches differ in layout: {self.n_numeric} numeric and {self.n_categorical} "
                f"categorical columns before, {n_numeric} and {n_categorical} now. Every batch "
                "of a dataset must have the same columns."
            )

    def to_state(self) -> dict[str, Any]:
        return {"count_values": self.plan.count_values, "capacity": self.plan.capacity,
                "n_rows": self.n_rows, "n_numeric": self.n_numeric,
                "n_categorical": self.n_categorical, "moments": self.moments.to_state(),
                "values": [top.to_state() for top in self.values]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FitStats:
        stats = cls(FitPlan(bool(state["count_values"]), int(state["capacity"])))
        stats.n_rows = int(state["n_rows"])
        stats.n_numeric, stats.n_categorical = state["n_numeric"], state["n_categorical"]
        stats.moments = Moments.from_state(state["moments"])
        stats.values = [TopValues.from_state(s) for s in state["values"]]
        return stats


def categorical_hashes(batch: Batch) -> np.ndarray:
    """Return ``batch.hashes``, or an empty ``(n_rows, 0)`` array when it has none."""
    if batch.hashes is None:
        return np.zeros((len(batch), 0), dtype=np.uint64)
    if batch.hashes.dtype != np.uint64 or batch.hashes.ndim != 2:
        raise SchemaError(
            "Batch.hashes must be a 2-D uint64 array (a 64-bit hash per categorical value); "
            f"got {batch.hashes.dtype} of shape {batch.hashes.shape}."
        )
    return batch.hashes


def collect_shard(shard: Any, plan: FitPlan) -> FitStats:
    """Engine task: the statistics of one shard's raw batches."""
    return FitStats(plan).update_all(shard.batches(plan.batch_size))


def merge_stats(left: FitStats, right: FitStats) -> FitStats:
    """Engine combine: fold ``right`` into ``left``."""
    return left.merge(right)
