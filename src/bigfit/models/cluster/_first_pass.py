"""The first pass over the data: the feature transform's statistics and a uniform sample.

One ``map_reduce`` gathers what the transform learns from (column moments, category
counts) and the rows with the largest sampling keys (:func:`sample_keys`): a weighted
sample without replacement that does not depend on how the data is sharded.  The sample
seeds the initialisation: the first centre of k-means||, or the rows that k-means++ and
random initialisation choose from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.transforms import FitPlan, FitStats
from bigfit.engine.base import Engine
from bigfit.models.cluster._sampling import TopRows, sample_keys, stream_seed

SAMPLE_PURPOSE = 1


@dataclass(frozen=True)
class FirstPassPlan:
    """What every task of the first pass collects."""

    transform: FitPlan
    sample_size: int
    seed: int


def first_pass_shard(shard: Any, plan: FirstPassPlan) -> tuple[FitStats, TopRows]:
    """Engine task: transform statistics and the sampled raw rows of one shard."""
    stats = FitStats(plan.transform)
    sample = TopRows(plan.sample_size)
    for batch in shard.batches(plan.transform.batch_size, prefetch=2):
        stats.update(batch)
        sample.update(sample_keys(batch, plan.seed), batch.replace(y=None, extra=None))
    return stats, sample


def merge_first_pass(a: tuple[FitStats, TopRows], b: tuple[FitStats, TopRows]) -> tuple[FitStats, TopRows]:
    """Engine combine of :func:`first_pass_shard` results."""
    return a[0].merge(b[0]), a[1].merge(b[1])


def run_first_pass(shards: list[Any], engine: Engine, transform: FitPlan, sample_size: int,
                   seed: int) -> tuple[FitStats, Batch | None]:
    """Return the transform statistics and the sampled raw rows (best keys first)."""
    plan = FirstPassPlan(transform, sample_size, stream_seed(seed, SAMPLE_PURPOSE))
    stats, sample = engine.map_reduce(first_pass_shard, shards, merge_first_pass, plan)
    return stats, sample.sorted()[1]


def sample_from_batches(batches: list[Batch], sample_size: int, seed: int) -> Batch | None:
    """The same sample as :func:`run_first_pass`, from batches in memory."""
    sample = TopRows(sample_size)
    for batch in batches:
        sample.update(sample_keys(batch, stream_seed(seed, SAMPLE_PURPOSE)),
                      batch.replace(y=None, extra=None))
    return sample.sorted()[1]


def positive_rows(rows: Batch) -> Batch:
    """The rows of ``rows`` with a positive weight."""
    return rows if rows.w is None else rows.take(np.flatnonzero(rows.w > 0))
