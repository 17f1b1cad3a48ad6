"""The covariance solver's pass: count, mean and centred scatter matrix of every shard.

Inside a shard the rows are shifted near their mean (:class:`~._space.FeatureSpace`) and
their float64 cross-products summed, one GEMM per batch: numerically the hot path and
the whole cost above the scan.  At the end of the shard the sums become a centred
:class:`Scatter`, and scatters combine with the pairwise formula of Chan, Golub and
LeVeque, so any split of the rows into batches and shards gives the same matrix up to
rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.models.decomposition._space import (
    FeatureSpace,
    ShiftedRows,
    column_reduce,
    first_shift,
    reusable,
)


class Scatter:
    """Rows counted, their mean and centred scatter ``sum (x - mean)(x - mean)^T``, float64.

    With ``track_range``, also the smallest and largest value of each numeric column
    (what the feature transform records when the one-pass path fits it from this pass).
    """

    def __init__(self, count: int, mean: np.ndarray, scatter: np.ndarray,
                 low: np.ndarray | None = None, high: np.ndarray | None = None) -> None:
        self.count = count
        self.mean = mean
        self.scatter = scatter
        self.low = low
        self.high = high

    @property
    def n_features(self) -> int:
        return len(self.mean)

    def merge(self, other: Scatter) -> Scatter:
        """Fold the rows of ``other`` in (Chan et al.'s update); return self."""
        if other.count == 0:
            return self
        if self.count == 0:
            self.count, self.mean, self.scatter = other.count, other.mean.copy(), other.scatter.copy()
            self.low, self.high = other.low, other.high
            return self
        na, nb = float(self.count), float(other.count)
        n = na + nb
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.scatter = self.scatter + other.scatter + np.outer(delta, delta) * (na * nb / n)
        self.count += other.count
        if self.low is not None and other.low is not None:
            self.low = np.fmin(self.low, other.low)
            self.high = np.fmax(self.high, other.high)  # type: ignore[arg-type]
        return self

    def covariance(self, scale: np.ndarray) -> np.ndarray:
        """The scatter of the rows divided column-wise by ``scale``: ``D^-1 S D^-1``."""
        inverse = 1.0 / scale
        return self.scatter * inverse[:, None] * inverse[None, :]


class ShiftedSums:
    """A shard's running sums of shifted rows: count, column sums and cross-products."""

    def __init__(self, shift: np.ndarray, n_codes: int, track_range: bool) -> None:
        p = len(shift)
        d = p + n_codes
        self.shift = shift
        self.count = 0
        self.total = np.zeros(d)
        self.cross = np.zeros((d, d))
        self.low = np.full(p, np.inf) if track_range else None
        self.high = np.full(p, -np.inf) if track_range else None

    def update(self, rows: ShiftedRows, raw: np.ndarray | None = None) -> None:
        """Fold in one batch (``raw``: its float32 numeric columns, for the value range)."""
        p = rows.numeric.shape[1]
        self.count += len(rows)
        self.total[:p] += column_reduce(np.add, rows.numeric)
        self.cross[:p, :p] += rows.numeric.T @ rows.numeric
        if rows.onehot is not None:
            onehot_t = rows.onehot.T.tocsr()
            self.total[p:] += np.asarray(rows.onehot.sum(axis=0)).ravel()
            self.cross[p:, :p] += onehot_t @ rows.numeric
            self.cross[p:, p:] += (onehot_t @ rows.onehot).toarray()
        if self.low is not None and raw is not None and len(raw):
            self.low = np.fmin(self.low, column_reduce(np.minimum, raw))
            self.high = np.fmax(self.high, column_reduce(np.maximum, raw))  # type: ignore[arg-type]

    def centred(self) -> Scatter:
        """The sums as a centred :class:`Scatter` (only the shift's small offset cancels)."""
        p = len(self.shift)
        cross = self.cross
        cross[:p, p:] = cross[p:, :p].T
        if self.count == 0:
            return Scatter(0, np.zeros(len(self.total)), cross, self.low, self.high)
        offset = self.total / self.count
        mean = offset.copy()
        mean[:p] += self.shift
        return Scatter(self.count, mean, cross - np.outer(self.total, offset), self.low, self.high)


@dataclass(frozen=True)
class ScatterPlan:
    """What every task of a scatter pass needs."""

    space: FeatureSpace
    n_numeric: int
    batch_size: int | None = None
    track_range: bool = False


def scatter_shard(shard: Any, plan: ScatterPlan) -> Scatter:
    """Engine task: the centred scatter of one shard's rows."""
    sums: ShiftedSums | None = None
    buffer = np.empty((0, plan.n_numeric))  # float64 rows, reused by every batch
    for batch in shard.batches(plan.batch_size, prefetch=2):  # decode ahead of the GEMMs
        if not len(batch):
            continue
        X, codes = plan.space.prepare(batch)
        if sums is None:
            shift = plan.space.shift if plan.space.shift is not None else first_shift(X)
            sums = ShiftedSums(shift, plan.space.n_codes, plan.track_range)
        buffer = reusable(buffer, X)
        sums.update(plan.space.shifted(X, codes, sums.shift, out=buffer), X if plan.track_range else None)
    if sums is None:
        d = plan.n_numeric + plan.space.n_codes
        return Scatter(0, np.zeros(d), np.zeros((d, d)))
    return sums.centred()


def merge_scatter(left: Scatter, right: Scatter) -> Scatter:
    """Engine combine: fold ``right`` into ``left``."""
    return left.merge(right)
