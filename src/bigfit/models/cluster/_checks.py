"""Checks of the data k-means is given, with messages that say what to do."""

from __future__ import annotations

from bigfit.data.transforms import FitStats
from bigfit.exceptions import DataError


def check_training_stats(stats: FitStats, numeric: list[str], n_categorical: int, n_clusters: int) -> None:
    """Refuse data with fewer rows than clusters, empty columns, or one point only."""
    if stats.n_rows < n_clusters:
        raise DataError(f"n_samples={stats.n_rows} should be >= n_clusters={n_clusters}: the data has "
                        f"fewer rows than clusters; lower n_clusters.")
    moments = stats.moments
    empty = [name for name, count in zip(numeric, moments.count, strict=True) if count == 0]
    if empty:
        raise DataError(f"Column(s) {empty} hold no value (every row is missing), so k-means cannot "
                        "place centres along them; leave them out of the features "
                        "(Dataset(..., features=[...])).")
    if n_clusters > 1 and n_categorical == 0 and len(numeric) and not (moments.var > 0).any():
        raise DataError(f"Every feature column is constant ({numeric[:10]}): all rows are one point, "
                        f"so there is nothing to split into n_clusters={n_clusters} clusters.")
