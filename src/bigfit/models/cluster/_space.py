"""The space k-means measures distances in: the fitted feature transform, centred.

Rows are imputed (and standardised when asked) by the data layer's
:class:`~bigfit.data.transforms.FeatureTransformer`, then shifted by the column means, so
that the float32 distance products do not lose the clusters' spread to a large offset.
Categorical columns enter as one-hot indicators (one ``1`` per column per row), kept as
the ``codes`` the transformer produces and never materialised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.transforms import FeatureTransformer


@dataclass(frozen=True)
class FeatureSpace:
    """Raw batches to model-space rows, and model-space centres back to input units.

    Attributes
    ----------
    transformer : FeatureTransformer
        Fitted imputation, scaling and categorical encoding.
    standardize : bool
        Whether the transformer scales the numeric columns (it also centres them then).
    """

    transformer: FeatureTransformer
    standardize: bool

    @property
    def n_numeric(self) -> int:
        return int(self.transformer.n_features_in_)

    @property
    def n_categorical(self) -> int:
        return len(self.transformer.categorical_features_in_)

    @property
    def n_codes(self) -> int:
        return int(self.transformer.n_codes) if self.n_categorical else 0

    @property
    def numeric_variance(self) -> np.ndarray:
        """Variance of each numeric column in model space (for the tolerance of Lloyd)."""
        var = self.transformer.var_
        return var / self.transformer.scale_**2 if self.standardize else var

    def prepare(self, batch: Batch) -> Batch:
        """Return the batch in model space: ``X`` float32 centred (and scaled), ``codes``, ``w``.

        ``w`` stays None for unweighted data; ``row_id`` is kept (sampling keys use it).
        """
        if self.standardize:
            ready = self.transformer.transform(batch)
            X = ready.X
        else:
            ready = self.transformer.transform(batch, scale=False)
            X = ready.X - self.transformer.mean_.astype(np.float32)
        w = None if batch.w is None else batch.w.astype(np.float64)
        return Batch(X=np.ascontiguousarray(X, dtype=np.float32), codes=ready.codes, w=w,
                     row_id=batch.row_id)

    def to_input_units(self, numeric: np.ndarray) -> np.ndarray:
        """Numeric centre coordinates of model space on the scale of the input columns."""
        scale = self.transformer.scale_ if self.standardize else 1.0
        return numeric * scale + self.transformer.mean_

    def from_input_units(self, numeric: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_input_units`."""
        scale = self.transformer.scale_ if self.standardize else 1.0
        return (numeric - self.transformer.mean_) / scale
