"""Initial centres: k-means|| over the whole data, or k-means++ / random on the sample.

k-means|| (Bahmani et al., 2012) starts from one row of the uniform sample, then runs
``rounds`` passes.  Each pass computes every row's squared distance ``d2`` to the
candidates so far and the cost ``phi = sum w d2``, and picks each row independently with
probability ``l w d2 / phi`` (``l = oversampling_factor * k``).  Since ``phi`` is known only
at the end of the pass, each shard keeps its rows with the largest ``w d2 / u`` (``u`` the
row's uniform, :func:`row_uniforms`); the driver picks those above ``phi / l`` - the same
rows as the rule, as the expected ``<= l`` of them all fit in what a shard keeps.  A last
pass counts the rows nearest each candidate, and the weighted candidates (a few times k)
are reduced to k centres on the driver by weighted k-means++ and Lloyd (scikit-learn's
``KMeans`` on the candidates).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.engine.base import Engine
from bigfit.models.cluster._geometry import Centers, one_hot
from bigfit.models.cluster._sampling import TopRows, row_uniforms, stream_seed
from bigfit.models.cluster._space import FeatureSpace

logger = logging.getLogger("bigfit.models.cluster")

ROUND_PURPOSE = 2
REDUCE_TRIALS = 10  # k-means++ restarts of the driver-side reduction (cheap: candidates only)


@dataclass(frozen=True)
class RoundTask:
    """One k-means|| pass: the candidates so far and how many rows a shard keeps."""

    space: FeatureSpace
    centers: Centers
    keep: int
    seed: int


def round_shard(shard: Any, task: RoundTask) -> tuple[float, TopRows]:
    """Engine task: the cost of a shard against the candidates, and its oversampling picks."""
    cost, top = 0.0, TopRows(task.keep)
    for batch in shard.batches(prefetch=2):
        rows = task.space.prepare(batch)
        _, d2 = task.centers.nearest(rows.X, rows.codes)
        weighted = d2 if rows.w is None else d2 * rows.w
        cost += float(weighted.sum())
        top.update(weighted / row_uniforms(rows, task.seed), rows)
    return cost, top


def _merge_round(a: tuple[float, TopRows], b: tuple[float, TopRows]) -> tuple[float, TopRows]:
    return a[0] + b[0], a[1].merge(b[1])


@dataclass(frozen=True)
class WeightTask:
    """The final k-means|| pass: count the (weighted) rows nearest each candidate."""

    space: FeatureSpace
    centers: Centers


def weight_shard(shard: Any, task: WeightTask) -> np.ndarray:
    """Engine task: weight of the rows nearest each candidate in one shard."""
    counts = np.zeros(task.centers.k)
    for batch in shard.batches(prefetch=2):
        rows = task.space.prepare(batch)
        labels, _ = task.centers.nearest(rows.X, rows.codes)
        counts += np.bincount(labels, weights=rows.w, minlength=task.centers.k)
    return counts


def kmeans_parallel(shards: list[Any], engine: Engine, space: FeatureSpace, first: Batch, k: int, *,
                    rounds: int, oversampling_factor: float, seed: int) -> Centers:
    """Return k centres chosen by k-means|| from the prepared row ``first`` onwards."""
    target = oversampling_factor * k
    keep = int(2 * target + 10 * math.sqrt(target) + 16)
    chosen = [first]
    centers = Centers.from_rows(first, space.n_codes)
    for r in range(rounds):
        task = RoundTask(space, centers, keep, stream_seed(seed, ROUND_PURPOSE, r))
        cost, top = engine.map_reduce(round_shard, shards, _merge_round, task)
        keys, rows = top.sorted()
        if cost <= 0 or rows is None:
            break  # every row sits on a candidate
        picked = np.flatnonzero(keys > cost / target)
        if len(picked) == len(keys):
            logger.debug("k-means|| round %d: every kept row was picked; some may be missing", r)
        chosen.append(rows.take(picked))
        centers = Centers.from_rows(Batch.concat(chosen), space.n_codes)
    weights = engine.map_reduce(weight_shard, shards, np.add, WeightTask(space, centers))
    logger.debug("k-means||: %d candidates after %d rounds", centers.k, rounds)
    return reduce_candidates(centers, weights, k, seed)


def reduce_candidates(candidates: Centers, weights: np.ndarray, k: int, seed: int) -> Centers:
    """Reduce weighted candidates to ``k`` centres by weighted k-means++ and Lloyd."""
    from sklearn.cluster import KMeans as InMemoryKMeans

    keep = weights > 0
    dense = candidates.dense()[keep]
    n_numeric = candidates.numeric.shape[1]
    if len(dense) <= k:
        chosen = _pad(dense, k, seed)
    else:
        model = InMemoryKMeans(n_clusters=k, n_init=REDUCE_TRIALS, random_state=seed % 2**32)
        chosen = model.fit(dense, sample_weight=weights[keep]).cluster_centers_
    return Centers.from_dense(chosen, n_numeric, candidates.n_categorical)


def clustered_sample(sample: Batch, space: FeatureSpace, k: int, seed: int) -> Centers:
    """Return the k centres of the prepared ``sample`` clustered in memory (k-means++ and Lloyd)."""
    dense, n_categorical = _dense(sample, space)
    weights = np.ones(len(dense)) if sample.w is None else np.asarray(sample.w, dtype=np.float64)
    return reduce_candidates(Centers.from_dense(dense, space.n_numeric, n_categorical), weights, k, seed)


def from_sample(sample: Batch, space: FeatureSpace, k: int, method: str, seed: int) -> Centers:
    """Return k centres drawn from the prepared ``sample``: ``"k-means++"`` or ``"random"``."""
    dense, n_categorical = _dense(sample, space)
    if len(dense) <= k:
        return Centers.from_dense(_pad(dense, k, seed), space.n_numeric, n_categorical)
    if method == "random":
        index = np.random.default_rng(seed).choice(len(dense), size=k, replace=False)
        chosen = dense[np.sort(index)]
    else:
        from sklearn.cluster import kmeans_plusplus

        chosen, _ = kmeans_plusplus(dense, k, random_state=seed % 2**32)
    return Centers.from_dense(chosen, space.n_numeric, n_categorical)


def _dense(sample: Batch, space: FeatureSpace) -> tuple[np.ndarray, int]:
    """The sample's rows as float64 (numeric, then one-hot codes), and its categorical count."""
    dense = np.hstack([sample.X.astype(np.float64), one_hot(sample.codes, space.n_codes, len(sample))])
    return dense, 0 if sample.codes is None else sample.codes.shape[1]


def _pad(dense: np.ndarray, k: int, seed: int) -> np.ndarray:
    """All of ``dense``'s rows, then copies of random ones up to ``k`` rows.

    Happens only when the data has fewer distinct rows than clusters; Lloyd then leaves
    the extra clusters empty (or moves them to the farthest rows).
    """
    if len(dense) == 0:
        raise ValueError("no candidate centre")
    extra = np.random.default_rng(seed).choice(len(dense), size=k - len(dense), replace=True)
    return np.vstack([dense, dense[extra]])
