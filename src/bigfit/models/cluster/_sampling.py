"""Random choices that depend on each row, never on shards, workers or batch order.

Every random draw k-means makes over the data (the uniform sample that seeds the
initialisation, k-means|| oversampling) comes from a hash of the row's stable id
(``Batch.row_id``) and the seed: the same rows are chosen on ``local``, ``local[N]`` or
a cluster.  Selections keep the rows with the largest keys in :class:`TopRows`, whose
merge is associative, so that an engine's tree of partial results gives the same set.
"""

from __future__ import annotations

import numpy as np

from bigfit.data._hashing import mix64
from bigfit.data.batch import Batch


def stream_seed(seed: int, *purpose: int) -> int:
    """A 64-bit seed for one use of the random state (``purpose`` numbers the use)."""
    return int(np.random.SeedSequence([seed, *purpose]).generate_state(1, np.uint64)[0])


def row_uniforms(batch: Batch, seed: int) -> np.ndarray:
    """One uniform in (0, 1) per row of ``batch``, a function of its row id and ``seed``."""
    ids = batch.row_id if batch.row_id is not None else np.arange(len(batch), dtype=np.uint64)
    bits = mix64(ids, seed) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * 2.0**-53


def sample_keys(batch: Batch, seed: int) -> np.ndarray:
    """Keys whose largest values form a weighted sample without replacement.

    ``log(u) / w`` (Efraimidis and Spirakis): a row of weight 0 is never chosen.
    """
    logs = np.log(row_uniforms(batch, seed))
    if batch.w is None:
        return logs
    with np.errstate(divide="ignore"):
        return np.where(batch.w > 0, logs / np.maximum(batch.w, 1e-300), -np.inf)


class TopRows:
    """The (at most) ``size`` rows with the largest keys among those offered.

    Examples
    --------
    >>> top = TopRows(2)
    >>> top.update(np.array([0.5, 3.0, 1.0]), Batch(X=np.arange(3.0)[:, None]))
    >>> top.sorted()[1].X.ravel().tolist()
    [1.0, 2.0]
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.keys = np.zeros(0)
        self.rows: Batch | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def update(self, keys: np.ndarray, rows: Batch) -> None:
        """Offer ``rows`` with their ``keys``."""
        if self.size == 0 or not len(keys):
            return
        if len(keys) > self.size:
            index = np.argpartition(-keys, self.size - 1)[: self.size]
            keys, rows = keys[index], rows.take(index)
        else:
            rows = rows.take(np.arange(len(keys)))  # a copy, not a view of the caller's batch
        if self.rows is not None:
            keys = np.concatenate([self.keys, keys])
            rows = Batch.concat([self.rows, rows])
        self.keys, self.rows = keys, rows
        if len(self.keys) > self.size:
            self._keep_largest()

    def merge(self, other: TopRows) -> TopRows:
        """Fold in another selection; return self."""
        if other.rows is not None:
            self.update(other.keys, other.rows)
        return self

    def sorted(self) -> tuple[np.ndarray, Batch | None]:
        """Return the keys (largest first) and the rows in that order."""
        if self.rows is None:
            return self.keys, None
        order = np.argsort(-self.keys, kind="stable")
        return self.keys[order], self.rows.take(order)

    def _keep_largest(self) -> None:
        index = np.argpartition(-self.keys, self.size - 1)[: self.size]
        self.keys = self.keys[index]
        self.rows = self.rows.take(index) if self.rows is not None else None
