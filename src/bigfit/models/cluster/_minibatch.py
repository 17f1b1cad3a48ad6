"""Mini-batch k-means (Sculley, 2010): one small step per mini-batch of a stream.

Each centre keeps the weight of the rows it has absorbed, ``v``; a step assigns the batch's
rows to their nearest centres and moves each centre to ``(v c + sum of its rows) / (v + n)``,
which is Sculley's per-sample update with the per-centre learning rate ``1 / v``.  Every
ten batches, centres whose weight is below ``reassignment_ratio`` times the largest are
moved to random rows of the batch (scikit-learn's ``MiniBatchKMeans`` does the same), so
that no centre stays empty.

``fit`` streams the data from this process (the driver), whatever the engine: the steps
are sequential by nature and cheap next to decoding, and one stream gives the same model
on every engine.  The engine's workers run the passes around it (the first pass, and the
inertia of the final centres).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from bigfit.data.batch import Batch
from bigfit.models.cluster._geometry import Centers, ClusterSums, one_hot

REASSIGN_EVERY = 10  # batches between two checks for small clusters


@dataclass
class MiniBatchState:
    """The centres and their absorbed weights, plus the early-stopping record."""

    numeric: np.ndarray
    codes: np.ndarray
    counts: np.ndarray
    n_categorical: int
    steps: int = 0
    rows_since_reassign: int = 0
    ewa: float | None = None
    best_ewa: float = np.inf
    no_improvement: int = 0

    @classmethod
    def start(cls, centers: Centers) -> MiniBatchState:
        return cls(centers.numeric.copy(), centers.codes.copy(), np.zeros(centers.k),
                   centers.n_categorical)

    def centers(self) -> Centers:
        return Centers(self.numeric, self.codes, self.n_categorical)

    def step(self, rows: Batch, *, batch_size: int, reassignment_ratio: float,
             rng: np.random.Generator) -> tuple[float, float]:
        """Take one step on the prepared ``rows``; return their inertia and weight before it."""
        centers = self.centers()
        labels, d2 = centers.nearest(rows.X, rows.codes)
        sums = ClusterSums.zeros(centers.k, self.numeric.shape[1], self.codes.shape[1])
        sums.add(rows, labels, d2)
        hit = sums.weight > 0
        total = self.counts[hit] + sums.weight[hit]
        self.numeric[hit] = (self.numeric[hit] * self.counts[hit, None] + sums.numeric[hit]) / total[:, None]
        self.codes[hit] = (self.codes[hit] * self.counts[hit, None] + sums.codes[hit]) / total[:, None]
        self.counts[hit] = total
        self.steps += 1
        self.rows_since_reassign += len(rows)
        if reassignment_ratio > 0 and self.rows_since_reassign >= REASSIGN_EVERY * batch_size:
            self._reassign(rows, reassignment_ratio, rng)
            self.rows_since_reassign = 0
        return sums.inertia, float(sums.weight.sum())

    def _reassign(self, rows: Batch, ratio: float, rng: np.random.Generator) -> None:
        small = self.counts < ratio * self.counts.max()
        if not small.any() or small.all():
            return
        w = np.ones(len(rows)) if rows.w is None else rows.w
        candidates = np.flatnonzero(w > 0)
        limit = len(candidates) // 2
        index = np.flatnonzero(small)
        if len(index) > limit:  # move the smallest first
            index = index[np.argsort(self.counts[index], kind="stable")[:limit]]
        if not len(index):
            return
        picked = rng.choice(candidates, size=len(index), replace=False,
                            p=w[candidates] / w[candidates].sum())
        self.numeric[index] = rows.X[picked]
        codes = None if rows.codes is None else rows.codes[picked]
        self.codes[index] = one_hot(codes, self.codes.shape[1], len(index))
        self.counts[index] = self.counts[~small].min()

    def improved(self, mean_inertia: float, smoothing: float, patience: int | None) -> bool:
        """Record a batch's mean inertia; return False once ``patience`` steps brought no progress.

        The record is an exponentially weighted average of the batches' mean inertia
        (``smoothing`` the weight of the newest), as scikit-learn's ``max_no_improvement``.
        """
        self.ewa = mean_inertia if self.ewa is None else \
            self.ewa * (1 - smoothing) + mean_inertia * smoothing
        if self.ewa < self.best_ewa:
            self.best_ewa, self.no_improvement = self.ewa, 0
        else:
            self.no_improvement += 1
        return patience is None or self.no_improvement < patience


@dataclass(frozen=True)
class StepPlan:
    """How to cut prepared batches into steps."""

    batch_size: int
    reassignment_ratio: float
    smoothing: float
    patience: int | None


def take_steps(state: MiniBatchState, prepared: Iterable[Batch], plan: StepPlan,
               rng: np.random.Generator, after_step: Callable[[], None] | None = None,
               ) -> tuple[int, float, float, bool]:
    """Step through contiguous slices of each prepared batch, calling ``after_step`` after each.

    Returns the rows seen, their inertia and weight sums (each row measured before its
    step), and whether to go on (False: early stopping says the centres stopped improving).
    """
    rows, inertia, weight = 0, 0.0, 0.0
    for batch in prepared:
        for start in range(0, len(batch), plan.batch_size):
            part = batch.take(slice(start, start + plan.batch_size))
            part_inertia, part_weight = state.step(part, batch_size=plan.batch_size,
                                                   reassignment_ratio=plan.reassignment_ratio, rng=rng)
            rows, inertia, weight = rows + len(part), inertia + part_inertia, weight + part_weight
            if after_step is not None:
                after_step()
            if part_weight > 0 and not state.improved(part_inertia / part_weight, plan.smoothing,
                                                      plan.patience):
                return rows, inertia, weight, False
    return rows, inertia, weight, True
