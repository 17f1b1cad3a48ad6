"""The target column seen in one pass: classes and their counts, or a numeric summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bigfit.exceptions import DataError, InvalidParameterError

MAX_CLASSES = 10_000


@dataclass
class TargetSummary:
    """Mergeable counts of the target: rows, weight, and per-value counts for classifiers."""

    classification: bool
    rows: int = 0
    weight: float = 0.0
    missing: int = 0
    counts: dict[Any, float] = field(default_factory=dict)   # value -> row count
    weights: dict[Any, float] = field(default_factory=dict)  # value -> weight sum

    def update(self, y: np.ndarray, w: np.ndarray | None) -> TargetSummary:
        """Fold one batch's target (and weights) in; return self."""
        w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
        self.rows += len(y)
        self.weight += float(w.sum())
        missing = _missing(y)
        self.missing += int(missing.sum())
        if self.classification and y.dtype.kind == "f" and not np.equal(np.mod(y[~missing], 1), 0).all():
            raise DataError("Unknown label type: continuous. A classifier needs class labels; "
                            "use a regressor (LinearRegression, SGDRegressor) for a continuous target.")
        if not self.classification:
            if y.dtype.kind not in "biuf":
                raise DataError(f"A regression target must be numeric; got values like {y[:3].tolist()}. "
                                "Use a classifier for labels.")
            return self
        present = ~missing if missing.any() else slice(None)
        values, counts, sums = _tally(y[present], w[present])
        for value, count, total in zip(values.tolist(), counts.tolist(), sums.tolist(), strict=True):
            self.counts[value] = self.counts.get(value, 0) + count
            self.weights[value] = self.weights.get(value, 0.0) + total
        if len(self.counts) > MAX_CLASSES:
            raise DataError(f"The target has more than {MAX_CLASSES} distinct values; is it a "
                            "regression target? Use LinearRegression for numbers.")
        return self

    def merge(self, other: TargetSummary) -> TargetSummary:
        """Fold another part's summary in; return self."""
        self.rows += other.rows
        self.weight += other.weight
        self.missing += other.missing
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count
            self.weights[value] = self.weights.get(value, 0.0) + other.weights[value]
        return self

    def classes(self) -> np.ndarray:
        """The sorted distinct labels, as numpy would sort them."""
        return np.array(sorted(self.counts))


def _tally(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct values of ``y``, sorted, with their row counts and weight sums."""
    if y.dtype.kind in "iu" and len(y) and y.min() >= 0 and y.max() <= MAX_CLASSES:
        # Small counting labels (0/1, 0..K-1): two counting passes instead of a sort.
        counts = np.bincount(y)
        values = np.flatnonzero(counts)
        return values, counts[values], np.bincount(y, weights=w)[values]
    values, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(values))
    return values, counts, np.bincount(inverse, weights=w, minlength=len(values))


def _missing(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind == "O":
        return np.array([v is None for v in y], dtype=bool) if len(y) else np.zeros(0, bool)
    return np.zeros(len(y), dtype=bool)


def encode_labels(y: np.ndarray, classes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Return the index of each label in ``classes``; unseen labels raise :class:`DataError`.

    Rows of weight 0 in ``weights`` (the other side of a holdout split, read in place) count
    for nothing: an unseen label there gets index 0 instead.
    """
    if _counting(classes) and y.dtype.kind in "iu" and len(y) and \
            y.min() >= 0 and y.max() < len(classes):
        return y.astype(np.int64, copy=False)  # labels 0, 1, ..., K-1 are their own index
    if classes.dtype.kind in "biuf" and y.dtype.kind in "biuf":
        index = np.searchsorted(classes, y)
        index = np.clip(index, 0, len(classes) - 1)
        known = classes[index] == y
    else:
        lookup = {value: i for i, value in enumerate(classes.tolist())}
        index = np.fromiter((lookup.get(v, -1) for v in y.tolist()), dtype=np.int64, count=len(y))
        known = index >= 0
    if not known.all() and weights is not None:
        ignored = ~known & (weights == 0)
        index[ignored], known[ignored] = 0, True
    if not known.all():
        unseen = sorted({repr(v) for v in np.asarray(y)[~known].tolist()})[:5]
        raise DataError(f"Label(s) {', '.join(unseen)} were not seen in fit; known classes are "
                        f"{classes.tolist()[:20]}.")
    return index.astype(np.int64)


def _counting(classes: np.ndarray) -> bool:
    """True when ``classes`` are the integers ``0, 1, ..., K-1``."""
    return classes.dtype.kind in "iu" and bool(np.array_equal(classes, np.arange(len(classes))))


def class_weights(class_weight: Any, classes: np.ndarray, summary: TargetSummary) -> np.ndarray:
    """Per-class weight multipliers: None, ``"balanced"`` or a mapping label -> weight."""
    if class_weight is None:
        return np.ones(len(classes))
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.array([summary.counts[c] for c in classes.tolist()], dtype=np.float64)
        return summary.rows / (len(classes) * counts)
    if isinstance(class_weight, dict):
        unknown = set(class_weight) - set(classes.tolist())
        if unknown:
            raise InvalidParameterError(f"class_weight names label(s) {sorted(map(repr, unknown))} "
                                        f"that are not classes; classes are {classes.tolist()}.")
        return np.array([float(class_weight.get(c, 1.0)) for c in classes.tolist()])
    raise InvalidParameterError(
        f"The 'class_weight' parameter must be None, 'balanced' or a dict. Got {class_weight!r} instead.")
