"""Accuracy, log loss, confusion matrix and ROC AUC of a classifier, batch by batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigfit.exceptions import InvalidParameterError
from bigfit.models.metrics._checks import (
    as_class_indices,
    as_probabilities,
    as_weights,
    total_weight,
)
from bigfit.models.metrics._roc import RocSketch


class ClassificationMetrics:
    """Mergeable accumulator of the metrics of predicted class probabilities.

    Each :meth:`update` adds the weighted counts of one batch: correct predictions (the
    predicted class is the most probable one, the first on a tie), the log loss with
    probabilities clipped to ``[eps, 1 - eps]`` as scikit-learn clips them (``eps`` of
    the input's float dtype), the confusion matrix, and score histograms for the ROC
    AUC.  Binary AUC scores the last column; with more classes it is the unweighted
    (macro) mean of the one-vs-rest AUCs, as ``roc_auc_score(multi_class="ovr")``.

    Everything but the AUC is an exact sum, so any split of the rows into batches and
    any order of merges gives the same result up to rounding.  The AUC is exact while
    at most 16384 rows have been seen; past that it comes from score histograms of
    ``auc_bins`` bins, whose error is bounded by the weight of positive and negative
    pairs that share a bin (in practice about 1e-7 with the default bins).  Memory is
    then ``2 * n_scores * auc_bins`` float64, ``n_scores`` being 1 for a binary problem
    and the number of classes otherwise (1 MiB binary, 10 MiB for 10 classes).

    Parameters
    ----------
    classes : int or sequence
        The class labels, in the order of the probability columns; an int ``K`` stands
        for ``range(K)``.  At least two.
    auc_bins : int, default 65536
        Bins of each score histogram, in ``[2, 2**24]``.

    Examples
    --------
    >>> import numpy as np
    >>> metrics = ClassificationMetrics(["no", "yes"])
    >>> _ = metrics.update(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4]))
    >>> _ = metrics.merge(ClassificationMetrics(["no", "yes"]).update([0], [0.7]))
    >>> result = metrics.result()
    >>> result["accuracy"], result["roc_auc"], result["confusion_matrix"]
    (0.5, 0.75, [[1, 1], [1, 1]])
    """

    def __init__(self, classes: int | Sequence[Any], *, auc_bins: int = 2**16) -> None:
        self.classes = _as_classes(classes)
        n_classes = len(self.classes)
        self._roc = RocSketch(1 if n_classes == 2 else n_classes, auc_bins)
        self._rows = 0
        self._weighted = False
        self._correct = 0.0
        self._log_loss = 0.0
        self._confusion = np.zeros((n_classes, n_classes))

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def n_rows(self) -> int:
        """Number of rows seen."""
        return self._rows

    def update(self, y_true: Any, proba: Any, sample_weight: Any = None,
               ) -> ClassificationMetrics:
        """Fold one batch in; return self.

        Parameters
        ----------
        y_true : array-like of int, shape (n,)
            True class indices into :attr:`classes`.
        proba : array-like of float, shape (n, n_classes), or (n,) when binary
            Predicted probabilities; a 1-D array is the probability of the second class.
        sample_weight : array-like of float, shape (n,), optional
            Non-negative row weights; unit weights when omitted.

        Raises
        ------
        DataError
            NaN or infinite values, probabilities outside ``[0, 1]``, class indices out of
            range, negative weights or inconsistent shapes.
        """
        y = as_class_indices(y_true, self.n_classes)
        p, eps = as_probabilities(proba, self.n_classes, len(y))
        weights = as_weights(sample_weight, len(y))
        self._weighted |= weights is not None
        w = np.ones(len(y)) if weights is None else weights
        rows = np.arange(len(y))
        predicted = np.argmax(p, axis=1)
        k = self.n_classes
        self._rows += len(y)
        self._correct += float(w @ (predicted == y))
        self._log_loss -= float(w @ np.log(np.clip(p[rows, y], eps, 1.0 - eps)))
        self._confusion += np.bincount(y * k + predicted, weights=w,
                                       minlength=k * k).reshape(k, k)
        if k == 2:
            self._roc.update(p[:, 1:], (y == 1)[:, None], w)
        else:
            self._roc.update(p, y[:, None] == np.arange(k), w)
        return self

    def merge(self, other: ClassificationMetrics) -> ClassificationMetrics:
        """Fold the counts of ``other`` (same classes and bins) in; return self."""
        if other.classes != self.classes or other._roc.n_bins != self._roc.n_bins:
            raise InvalidParameterError(
                f"Cannot merge metrics of classes {other.classes} with {other._roc.n_bins} AUC "
                f"bins into metrics of classes {self.classes} with {self._roc.n_bins}; build "
                "every partial with the same classes and auc_bins."
            )
        self._rows += other._rows
        self._weighted |= other._weighted
        self._correct += other._correct
        self._log_loss += other._log_loss
        self._confusion += other._confusion
        self._roc.merge(other._roc)
        return self

    def result(self) -> dict[str, Any]:
        """Return the metrics as plain Python values.

        Returns
        -------
        dict
            ``n`` (rows), ``accuracy``, ``log_loss``, ``roc_auc`` (None when undefined),
            ``roc_auc_reason`` (why ``roc_auc`` is None or averages fewer classes, else
            None), ``confusion_matrix`` (nested lists, true class by row, predicted class
            by column; ints without sample weights) and ``classes``.

        Raises
        ------
        EmptyDatasetError
            No row was seen.
        DataError
            The rows seen have zero total weight.
        """
        total = total_weight(self._rows, float(self._confusion.sum()))
        roc_auc, reason = self._roc_auc()
        confusion = self._confusion.round().astype(np.int64) if not self._weighted \
            else self._confusion
        return {
            "n": self._rows,
            "accuracy": self._correct / total,
            "log_loss": self._log_loss / total,
            "roc_auc": roc_auc,
            "roc_auc_reason": reason,
            "confusion_matrix": confusion.tolist(),
            "classes": list(self.classes),
        }

    def _roc_auc(self) -> tuple[float | None, str | None]:
        auc = self._roc.auc()
        defined = ~np.isnan(auc)
        if defined.all():
            return float(auc.mean()), None
        present = [self.classes[i] for i in np.flatnonzero(self._confusion.sum(axis=1) > 0)]
        if not defined.any():
            return None, (f"ROC AUC is undefined: it needs rows of at least two classes with "
                          f"positive weight; the rows seen are all of classes {present}.")
        missing = [self.classes[i] for i in np.flatnonzero(~defined)]
        return float(auc[defined].mean()), (
            f"classes {missing} have no rows with positive weight: roc_auc is the mean "
            f"one-vs-rest AUC of the other {int(defined.sum())} classes.")

    def to_state(self) -> dict[str, Any]:
        """Return the counts as plain data (see :meth:`from_state`)."""
        return {"classes": list(self.classes), "rows": self._rows, "weighted": self._weighted,
                "correct": self._correct, "log_loss": self._log_loss,
                "confusion": self._confusion.copy(), "roc": self._roc.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClassificationMetrics:
        """Rebuild the accumulator saved by :meth:`to_state`."""
        metrics = cls(state["classes"], auc_bins=int(state["roc"]["n_bins"]))
        metrics._rows = int(state["rows"])
        metrics._weighted = bool(state["weighted"])
        metrics._correct = float(state["correct"])
        metrics._log_loss = float(state["log_loss"])
        metrics._confusion = np.array(state["confusion"], dtype=np.float64)
        metrics._roc = RocSketch.from_state(state["roc"])
        return metrics

    def __repr__(self) -> str:
        return f"ClassificationMetrics(classes={self.classes}, rows={self._rows})"


def _as_classes(classes: int | Sequence[Any]) -> list[Any]:
    """The class labels as a list of plain Python values (an int K means range(K))."""
    if isinstance(classes, int | np.integer) and not isinstance(classes, bool):
        labels: list[Any] = list(range(int(classes)))
    elif isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray):
        labels = []
    else:
        labels = [label.item() if isinstance(label, np.generic) else label for label in classes]
    try:
        distinct = len(set(labels)) == len(labels)
    except TypeError:  # unhashable labels
        distinct = False
    if len(labels) < 2 or not distinct:
        raise InvalidParameterError(
            f"The 'classes' parameter of ClassificationMetrics must be an int >= 2 or a "
            f"sequence of at least two distinct labels. Got {classes!r} instead."
        )
    return labels
