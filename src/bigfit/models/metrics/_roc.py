"""ROC AUC in bounded memory: exact on few rows, from fine score histograms on many.

The exact AUC needs every score sorted, so it is kept only while a sketch has seen at
most ``exact_rows`` rows (then it equals scikit-learn's).  Past that, the scores go
into weighted histograms of a fixed number of bins, which merge by addition.  Pairs of
rows in different bins are ordered exactly; pairs in the same bin count as ties (half a
point), so the error is at most half the weight of same-bin positive-negative pairs
(:meth:`RocSketch.error_bound`), and in practice far less (about 1e-7 on 1e5 rows).

Bins are uniform on ``u(s) = logit(s) + SLOPE * (s - 1/2)``, which grows with ``s``:
near ``s = 1/2`` the linear term dominates (bins about 4e-5 wide in ``s`` with 2**16
bins), near 0 and 1 the logit does (each bin spans about 0.3% of ``s`` or ``1 - s``), so
the confident scores of a good model stay apart too.  Float64 cannot tell ``1 - s``
apart below ``2**-53`` (such scores are 1.0, ties), but it can tell ``s`` apart down to
``1e-323``: below ``2**-53``, ``u`` goes on as ``log(s) / 16`` (bins about 5% of ``s``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigfit.exceptions import InvalidParameterError

_EPS = 2.0**-53  # 1 - s is 0 below this; s itself goes on down to _TINY
_TINY = float(np.finfo(np.float64).smallest_subnormal)
_SLOPE = 64.0
_TAIL = 1.0 / 16.0  # slope of u against log(s) below _EPS
_U_HIGH = float(np.log((1.0 - _EPS) / _EPS) + _SLOPE * (0.5 - _EPS))
_U_LOW = -_U_HIGH + _TAIL * float(np.log(_TINY) - np.log(_EPS))


def score_bins(scores: np.ndarray, n_bins: int) -> np.ndarray:
    """Return the bin (``intp`` in ``[0, n_bins)``) of each score in ``[0, 1]``.

    Examples
    --------
    >>> score_bins(np.array([0.0, 0.25, 0.5, 0.75, 1.0]), 8)
    array([0, 4, 4, 5, 7])
    """
    s = np.clip(scores, _TINY, 1.0 - _EPS)
    main = np.maximum(s, _EPS)
    u = np.log(main) - np.log1p(-main) + _SLOPE * (main - 0.5)
    u += _TAIL * np.minimum(np.log(s) - np.log(_EPS), 0.0)
    bins = np.floor((u - _U_LOW) * (n_bins / (_U_HIGH - _U_LOW)))
    return np.clip(bins, 0, n_bins - 1).astype(np.intp)


class RocSketch:
    """ROC AUC of ``n_columns`` score columns, each against its own positive rows.

    Parameters
    ----------
    n_columns : int
        Number of score columns (1 for a binary problem, one per class for one-vs-rest).
    n_bins : int
        Bins per histogram; histograms take ``2 * n_columns * n_bins`` float64.
    exact_rows : int, default 16384
        Rows kept exactly (``n_columns + 2`` numbers each) before switching to histograms.

    Examples
    --------
    >>> import numpy as np
    >>> roc = RocSketch(1, 2**16)
    >>> scores = np.array([[0.1], [0.4], [0.35], [0.8]])
    >>> positive = np.array([[False], [False], [True], [True]])
    >>> roc.update(scores, positive, np.ones(4)).auc()
    array([0.75])
    """

    def __init__(self, n_columns: int, n_bins: int, exact_rows: int = 2**14) -> None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) \
                or not 2 <= n_bins <= 2**24:
            raise InvalidParameterError(
                f"The 'auc_bins' parameter must be an int in the range [2, 16777216]. "
                f"Got {n_bins!r} instead."
            )
        self.n_columns = int(n_columns)
        self.n_bins = int(n_bins)
        self.exact_rows = int(exact_rows)
        self.n_rows = 0
        # Exact mode: the rows as (scores, positive, weights); histogram mode: None.
        self._kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = []
        # Histogram mode: (2, n_columns, n_bins), [0] negative rows, [1] positive rows.
        self._counts: np.ndarray | None = None

    @property
    def exact(self) -> bool:
        """Whether the sketch still holds every row (so :meth:`auc` is exact)."""
        return self._kept is not None

    def update(self, scores: np.ndarray, positive: np.ndarray, weights: np.ndarray,
               ) -> RocSketch:
        """Add rows: ``scores``, ``positive`` of shape ``(n, n_columns)``, ``weights`` ``(n,)``."""
        if self._kept is not None and self.n_rows + len(weights) > self.exact_rows:
            self._to_histograms()  # before copying a large batch for nothing
        if self._kept is not None:  # copies, so that callers may reuse their arrays
            scores, positive = np.array(scores, np.float64), np.array(positive, bool)
            weights = np.array(weights, np.float64)
        self._add([(scores, positive, weights)], len(weights))
        return self

    def merge(self, other: RocSketch) -> RocSketch:
        """Add the rows or histograms of ``other`` (same columns and bins); return self."""
        if other._kept is not None:
            self._add(other._kept, other.n_rows)
            return self
        self._to_histograms()
        assert self._counts is not None and other._counts is not None
        self._counts += other._counts
        self.n_rows += other.n_rows
        return self

    def _add(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_rows: int) -> None:
        self.n_rows += n_rows
        if self._kept is not None:
            self._kept.extend(parts)  # arrays are never changed in place: sharing is safe
            if self.n_rows > self.exact_rows:
                self._to_histograms()
            return
        assert self._counts is not None
        for scores, positive, weights in parts:
            self._counts += _histograms(scores, positive, weights, self.n_bins)

    def _to_histograms(self) -> None:
        if self._kept is None:
            return
        parts, self._kept = self._kept, None
        self._counts = np.zeros((2, self.n_columns, self.n_bins))
        for scores, positive, weights in parts:
            self._counts += _histograms(scores, positive, weights, self.n_bins)

    def _exact_counts(self, column: int) -> np.ndarray:
        """Negative and positive weight per distinct score of ``column``: (2, 1, n_distinct)."""
        scores, positive, weights = self._concatenated()
        distinct, index = np.unique(scores[:, column], return_inverse=True)
        index = index + positive[:, column] * len(distinct)
        counts = np.bincount(index, weights=weights, minlength=2 * len(distinct))
        return counts.reshape(2, 1, len(distinct))

    def _concatenated(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = self._kept or [(np.zeros((0, self.n_columns)), np.zeros((0, self.n_columns),
                                bool), np.zeros(0))]
        scores, positive, weights = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
        self._kept = [(scores, positive, weights)] if self._kept is not None else None
        return scores, positive, weights

    def _all_counts(self) -> list[np.ndarray]:
        if self._counts is not None:
            return [self._counts]
        return [self._exact_counts(column) for column in range(self.n_columns)]

    def auc(self) -> np.ndarray:
        """ROC AUC of each column (NaN where a column lacks positive or negative weight)."""
        return np.concatenate([_auc(counts) for counts in self._all_counts()])

    def error_bound(self) -> np.ndarray:
        """Largest possible gap between :meth:`auc` and the exact AUC, per column."""
        if self._counts is None:
            return np.zeros(self.n_columns)
        negative, positive = self._counts
        pairs = positive.sum(axis=1) * negative.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(pairs > 0, 0.5 * (positive * negative).sum(axis=1) / pairs, np.nan)

    def to_state(self) -> dict[str, Any]:
        """Return the sketch as plain data (see :meth:`from_state`)."""
        state: dict[str, Any] = {"n_columns": self.n_columns, "n_bins": self.n_bins,
                                 "exact_rows": self.exact_rows, "n_rows": self.n_rows}
        if self._counts is not None:
            return {**state, "counts": self._counts.copy()}
        scores, positive, weights = self._concatenated()
        return {**state, "scores": scores.copy(), "positive": positive.copy(),
                "weights": weights.copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RocSketch:
        """Rebuild a sketch saved by :meth:`to_state`."""
        sketch = cls(int(state["n_columns"]), int(state["n_bins"]), int(state["exact_rows"]))
        sketch.n_rows = int(state["n_rows"])
        if "counts" in state:
            sketch._kept = None
            sketch._counts = np.array(state["counts"], dtype=np.float64)
        else:
            sketch._kept = [(np.array(state["scores"], dtype=np.float64),
                             np.array(state["positive"], dtype=bool),
                             np.array(state["weights"], dtype=np.float64))]
        return sketch


def _histograms(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray,
                n_bins: int) -> np.ndarray:
    """Weighted histograms of each score column, split by label: (2, n_columns, n_bins)."""
    n_columns = scores.shape[1]
    index = score_bins(scores, n_bins)
    index += np.arange(n_columns) * n_bins
    index += positive * (n_columns * n_bins)
    row_weights = np.broadcast_to(weights[:, None], index.shape).ravel()
    counts = np.bincount(index.ravel(), weights=row_weights, minlength=2 * n_columns * n_bins)
    return counts.reshape(2, n_columns, n_bins)


def _auc(counts: np.ndarray) -> np.ndarray:
    """AUC per column of ordered (2, n_columns, n_bins) counts; ties count half."""
    negative, positive = counts
    below = np.cumsum(negative, axis=1) - negative  # negative weight in lower bins
    wins = (positive * (below + 0.5 * negative)).sum(axis=1)
    pairs = positive.sum(axis=1) * negative.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)
