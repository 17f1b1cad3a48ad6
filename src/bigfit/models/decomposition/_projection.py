"""Raw batches to principal-component scores: the fitted transform and axes (picklable)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bigfit.data.batch import Batch
from bigfit.models.decomposition._space import FeatureSpace


@dataclass(frozen=True)
class Projection:
    """``(x - mean) / scale @ components.T`` (divided by the axes' spread when whitening).

    Attributes
    ----------
    space : FeatureSpace
        The fitted transform, shifting numeric columns by their mean.
    weights : ndarray of shape (n_features, k)
        The components in input units (scaling and whitening folded in).
    offset : ndarray of shape (k,)
        What the one-hot columns' means contribute, subtracted after the product.
    """

    space: FeatureSpace
    weights: np.ndarray
    offset: np.ndarray

    @classmethod
    def build(cls, space: FeatureSpace, components: np.ndarray, mean: np.ndarray, scale: np.ndarray,
              spread: np.ndarray | None) -> Projection:
        """``spread``: the standard deviation along each axis to whiten by, or None."""
        weights = components.T / scale[:, None]
        if spread is not None:
            weights = weights / spread[None, :]
        p = 0 if space.shift is None else len(space.shift)
        return cls(space, weights, mean[p:] @ weights[p:])

    def __call__(self, batch: Batch) -> np.ndarray:
        """Return the (n_rows, k) float64 scores of a raw batch."""
        assert self.space.shift is not None
        return self.space.rows(batch, self.space.shift).matmul(self.weights) - self.offset


def whitening_spread(explained_variance: np.ndarray) -> np.ndarray:
    """The standard deviation along each axis, floored at machine epsilon (as scikit-learn)."""
    spread = np.sqrt(explained_variance)
    return np.maximum(spread, np.finfo(np.float64).eps)
