"""R², RMSE and MAE of a regressor, batch by batch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigfit.models.metrics._checks import as_vector, as_weights, total_weight


class RegressionMetrics:
    """Mergeable accumulator of the weighted R², RMSE and MAE of predictions.

    It keeps eight numbers: the total weight, the weighted mean and centred sum of
    squares of the target (combined across batches with the parallel formula of Chan,
    Golub and LeVeque, on targets shifted by the first one seen, so that neither
    cancellation nor a mean far from zero loses precision), the weighted sums of squared
    and absolute errors, and the target's range.  Any split of the rows into batches and
    any order of merges gives the same result up to rounding.

    As scikit-learn's ``r2_score``, R² is 1.0 for a constant target predicted exactly
    and 0.0 for a constant target predicted with any error.

    Examples
    --------
    >>> import numpy as np
    >>> metrics = RegressionMetrics().update(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    >>> metrics.merge(RegressionMetrics().update([3.0], [2.0])).result()
    {'n': 3, 'r2': 0.375, 'rmse': 0.6454972243679028, 'mae': 0.5}
    """

    def __init__(self) -> None:
        self._rows = 0
        self._weight = 0.0
        self._shift = 0.0  # a target value: the mean is kept as the mean of y - shift
        self._mean = 0.0
        self._m2 = 0.0
        self._sse = 0.0
        self._sae = 0.0
        self._y_min = math.inf
        self._y_max = -math.inf

    @property
    def n_rows(self) -> int:
        """Number of rows seen."""
        return self._rows

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> RegressionMetrics:
        """Fold one batch in; return self.

        Parameters
        ----------
        y_true, y_pred : array-like of float, shape (n,)
            True and predicted targets.
        sample_weight : array-like of float, shape (n,), optional
            Non-negative row weights; unit weights when omitted.

        Raises
        ------
        DataError
            NaN or infinite values, negative weights or inconsistent shapes.
        """
        y = as_vector(y_true, "y_true")
        error = y - as_vector(y_pred, "y_pred", len(y))
        weights = as_weights(sample_weight, len(y))
        w = np.ones(len(y)) if weights is None else weights
        self._rows += len(y)
        weight = float(w.sum())
        if not weight > 0:
            return self
        seen = y[w > 0]
        shift = self._shift if self._weight > 0 else float(seen[0])
        shifted = y - shift
        mean = float(w @ shifted) / weight
        centred = shifted - mean  # two-pass within the batch: no cancellation
        self._absorb(weight, shift, mean, float(w @ (centred * centred)),
                     float(w @ (error * error)), float(w @ np.abs(error)),
                     float(seen.min()), float(seen.max()))
        return self

    def merge(self, other: RegressionMetrics) -> RegressionMetrics:
        """Fold the sums of ``other`` in; return self."""
        self._rows += other._rows
        if other._weight > 0:
            self._absorb(other._weight, other._shift, other._mean, other._m2, other._sse,
                         other._sae, other._y_min, other._y_max)
        return self

    def _absorb(self, weight: float, shift: float, mean: float, m2: float, sse: float,
                sae: float, y_min: float, y_max: float) -> None:
        if self._weight == 0:
            self._shift = shift
        total = self._weight + weight
        delta = (shift - self._shift) + mean - self._mean  # exact for nearby shifts
        self._m2 += m2 + delta * delta * (self._weight * weight / total)
        self._mean += delta * (weight / total)
        self._weight = total
        self._sse += sse
        self._sae += sae
        self._y_min = min(self._y_min, y_min)
        self._y_max = max(self._y_max, y_max)

    def result(self) -> dict[str, Any]:
        """Return ``n`` (rows), ``r2``, ``rmse`` and ``mae`` as Python numbers.

        Raises
        ------
        EmptyDatasetError
            No row was seen.
        DataError
            The rows seen have zero total weight.
        """
        weight = total_weight(self._rows, self._weight)
        if self._y_min == self._y_max:  # constant target: the centred sum is exactly 0
            r2 = 1.0 if self._sse == 0 else 0.0
        else:
            r2 = 1.0 - self._sse / self._m2
        return {"n": self._rows, "r2": r2, "rmse": math.sqrt(self._sse / weight),
                "mae": self._sae / weight}

    def to_state(self) -> dict[str, Any]:
        """Return the sums as plain data (see :meth:`from_state`)."""
        return {"rows": self._rows, "weight": self._weight, "shift": self._shift,
                "mean": self._mean,
                "m2": self._m2, "sse": self._sse, "sae": self._sae,
                "y_min": self._y_min, "y_max": self._y_max}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RegressionMetrics:
        """Rebuild the accumulator saved by :meth:`to_state`."""
        metrics = cls()
        metrics._rows = int(state["rows"])
        for name in ("weight", "shift", "mean", "m2", "sse", "sae", "y_min", "y_max"):
            setattr(metrics, f"_{name}", float(state[name]))
        return metrics

    def __repr__(self) -> str:
        return f"RegressionMetrics(rows={self._rows})"
