"""Lloyd's iterations as map-reduce: one pass per iteration over the shards.

Each pass assigns every row to its nearest centre and sums, per cluster, the weights and
coordinates (and the inertia of the current centres); the driver divides. A cluster that
received no row moves to the row farthest from its centre (each shard keeps its ``k``
farthest rows, so the driver has enough for every empty cluster).  Iterations stop when
the centres move less than ``tol`` (the sum of squared moves, relative to the mean
variance of the features, as in scikit-learn) or after ``max_iter``; a last pass then
computes the inertia of the final centres.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.engine.base import Engine
from bigfit.models.cluster._geometry import Centers, ClusterSums, merge_sums, one_hot
from bigfit.models.cluster._space import FeatureSpace


@dataclass(frozen=True)
class LloydTask:
    """One Lloyd pass: the current centres and how many far rows a shard keeps."""

    space: FeatureSpace
    centers: Centers
    n_far: int


def lloyd_shard(shard: Any, task: LloydTask) -> ClusterSums:
    """Engine task: per-cluster sums of one shard under the task's centres."""
    space, centers = task.space, task.centers
    sums = ClusterSums.zeros(centers.k, space.n_numeric, space.n_codes, task.n_far)
    for batch in shard.batches(prefetch=2):
        rows = space.prepare(batch)
        labels, d2 = centers.nearest(rows.X, rows.codes)
        sums.add(rows, labels, d2)
    return sums


def assignment_pass(shards: list[Any], engine: Engine, space: FeatureSpace, centers: Centers,
                    n_far: int = 0) -> ClusterSums:
    """One pass of :func:`lloyd_shard` over every shard, combined."""
    return engine.map_reduce(lloyd_shard, shards, merge_sums, LloydTask(space, centers, n_far))


@dataclass
class LloydResult:
    """Final centres, their inertia and the weight of each cluster under them."""

    centers: Centers
    inertia: float
    counts: np.ndarray
    n_iter: int
    converged: bool
    history: list[dict[str, Any]]


def run_lloyd(shards: list[Any], engine: Engine, space: FeatureSpace, centers: Centers, *,
              max_iter: int, tol: float,
              on_iteration: Callable[[int, dict[str, Any]], None] | None = None) -> LloydResult:
    """Iterate from ``centers``; return the final centres and their inertia."""
    variance = space.numeric_variance
    tol_abs = tol * float(variance.mean()) if len(variance) else tol
    converged, n_iter, history = False, 0, []
    for n_iter in range(1, max_iter + 1):
        started = time.perf_counter()
        sums = assignment_pass(shards, engine, space, centers, n_far=centers.k)
        updated = update_centers(centers, sums, space.n_codes)
        shift = float(((updated.dense() - centers.dense()) ** 2).sum())
        logs = {"epoch": n_iter, "inertia": sums.inertia, "center_shift": shift,  # inertia before it
                "seconds": time.perf_counter() - started, "rows": sums.rows}
        history.append(logs)
        if on_iteration is not None:
            on_iteration(n_iter, logs)
        centers, converged = updated, shift <= tol_abs
        if converged:
            break
    final = assignment_pass(shards, engine, space, centers) if shift > 0 else sums
    return LloydResult(centers, final.inertia, final.weight, n_iter, converged, history)


def update_centers(centers: Centers, sums: ClusterSums, n_codes: int) -> Centers:
    """The means of the clusters; an empty cluster moves to the next farthest row."""
    numeric, codes = centers.numeric.copy(), centers.codes.copy()
    filled = sums.weight > 0
    numeric[filled] = sums.numeric[filled] / sums.weight[filled, None]
    codes[filled] = sums.codes[filled] / sums.weight[filled, None]
    empty = np.flatnonzero(~filled)
    if len(empty):
        _, far = sums.far.sorted()
        if far is not None:
            moved = empty[: len(far)]
            numeric[moved] = far.X[: len(moved)]
            codes[moved] = one_hot(None if far.codes is None else far.codes[: len(moved)], n_codes,
                                   len(moved))
    return Centers(numeric, codes, centers.n_categorical)
