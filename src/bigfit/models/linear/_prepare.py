"""From raw batches to model inputs, and the first pass that learns how.

One pass over the training shards gathers both the feature transformer's statistics and
the target's summary (classes, counts, weights); :class:`BatchPreparer` then turns every
raw batch into transformed features, encoded targets and final sample weights, the same
way for every solver, for evaluation and for prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.transforms import FeatureTransformer, FitPlan, FitStats
from bigfit.models.linear._target import TargetSummary, encode_labels


@dataclass(frozen=True)
class FirstPassPlan:
    """What the first pass collects (sent to every task)."""

    transform: FitPlan
    classification: bool


def first_pass_shard(shard: Any, plan: FirstPassPlan) -> tuple[FitStats, TargetSummary]:
    """Engine task: transform statistics and target summary of one shard."""
    stats = FitStats(plan.transform)
    target = TargetSummary(plan.classification)
    for batch in shard.batches(plan.transform.batch_size, prefetch=2):  # decode ahead
        stats.update(batch)
        target.update(batch.y, batch.w)
    return stats, target


def merge_first_pass(a: tuple[FitStats, TargetSummary],
                     b: tuple[FitStats, TargetSummary]) -> tuple[FitStats, TargetSummary]:
    """Engine combine of :func:`first_pass_shard` results."""
    return a[0].merge(b[0]), a[1].merge(b[1])


@dataclass(frozen=True)
class BatchPreparer:
    """Turn raw batches into model inputs (picklable: it travels to workers).

    The result is a :class:`Batch` whose ``X`` is imputed and scaled, ``codes`` encoded,
    ``y`` the class index (classifiers) or float64 value (regressors), and ``w`` the
    float64 sample weight times the class weight (None when both are absent: unit weights).

    Attributes
    ----------
    transformer : FeatureTransformer
        Fitted imputation, scaling and categorical encoding.
    classes : ndarray or None
        Sorted labels for classifiers (targets become class indices); None for regression.
    class_weight : ndarray or None
        Per-class multipliers of the sample weights.
    scale : bool
        False leaves the scaling to a ``StandardizedDesign``.
    complete : bool
        The batches are rows the transformer was fitted on and it counted no missing
        value there: with ``scale=False`` no search for one is made (training passes).
    """

    transformer: FeatureTransformer
    classes: np.ndarray | None = None
    class_weight: np.ndarray | None = None
    scale: bool = True
    complete: bool = False

    def __call__(self, batch: Batch, *, with_target: bool = True) -> Batch:
        """Transform one raw batch; rows with a missing target are dropped."""
        if with_target and batch.y is not None:
            keep = _has_target(batch.y)
            if not keep.all():
                batch = batch.take(keep)
        batch = self.transformer.transform(batch, scale=self.scale, complete=self.complete)
        w = None if batch.w is None else batch.w.astype(np.float64)
        y = None
        if with_target and batch.y is not None:
            if self.classes is not None:
                y = encode_labels(batch.y, self.classes, w)
                if self.class_weight is not None:
                    w = self.class_weight[y] if w is None else w * self.class_weight[y]
            else:
                y = batch.y.astype(np.float64, copy=False)
        return batch.replace(y=y, w=w)


def _has_target(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return ~np.isnan(y)
    if y.dtype.kind == "O":
        return np.array([v is not None for v in y.tolist()], dtype=bool)
    return np.ones(len(y), dtype=bool)
