"""Dimensionality reduction out of core: exact (covariance) and randomized PCA."""

from bigfit.models.decomposition.pca import PCA

__all__ = ["PCA"]
