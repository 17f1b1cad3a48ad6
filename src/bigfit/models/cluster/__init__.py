"""Clustering out of core: k-means by Lloyd's iterations (map-reduce) or mini-batches."""

from bigfit.models.cluster.kmeans import KMeans

__all__ = ["KMeans"]
