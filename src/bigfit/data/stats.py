"""Mergeable, bounded-memory statistics of a stream of batches.

Each sketch follows one protocol, so the same code fills it from one batch, from a
shard's stream or from a whole cluster through ``engine.map_reduce``:

- ``update(...)`` folds one batch in, **in place**, and returns ``self``;
- ``merge(other)`` folds another sketch of the same kind in, **in place**, and returns
  ``self`` (``other`` is left unchanged), so ``functools.reduce(merge, partials)`` works;
- ``to_state()`` / ``from_state(state)`` turn a sketch into plain data (numbers, strings,
  lists and numpy arrays) and back, exactly.

Memory does not grow with the number of rows: :class:`Moments` holds six numbers per
column, :class:`DistinctSketch` ``2**precision`` bytes and :class:`TopValues` at most
``capacity`` counters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bigfit.data._hashing import MISSING, hash_array, mix64
from bigfit.exceptions import DataError, InvalidParameterError, SchemaError

__all__ = ["DistinctSketch", "Moments", "TopValues"]


class Moments:
    """Per-column count, nulls, min, max, mean and variance of a numeric matrix.

    NaN marks a missing value: it is counted in :attr:`nulls` and ignored otherwise.
    Batches and partial results combine with the parallel formula of Chan, Golub and
    LeVeque, so any split of the same rows gives the same count, nulls, min and max
    exactly, and the same mean and variance up to rounding (about 1e-15 relative; about
    1e-12 for values far from zero such as 1e6 + N(0, 1), whose means are rounded to
    float64 between batches).  A constant column has a variance of exactly 0.  A column
    holding an infinity has a NaN variance and an infinite or NaN mean.

    Parameters
    ----------
    n_features : int, optional
        Number of columns; when omitted, the first :meth:`update` fixes it.

    Examples
    --------
    >>> import numpy as np
    >>> m = Moments().update(np.array([[1.0, np.nan], [3.0, 2.0]]))
    >>> m.merge(Moments().update(np.array([[5.0, 4.0]]))).mean
    array([3., 3.])
    >>> m.nulls, m.var
    (array([0, 1]), array([2.66666667, 1.        ]))
    """

    def __init__(self, n_features: int | None = None) -> None:
        self._count = self._nulls = np.zeros(0, dtype=np.int64)
        self._min = self._max = self._mean = self._m2 = np.zeros(0)
        self._n_features: int | None = None
        if n_features is not None:
            self._allocate(int(n_features))

    def _allocate(self, n_features: int) -> None:
        self._n_features = n_features
        self._count = np.zeros(n_features, dtype=np.int64)
        self._nulls = np.zeros(n_features, dtype=np.int64)
        self._min = np.full(n_features, np.inf)
        self._max = np.full(n_features, -np.inf)
        self._mean = np.zeros(n_features)
        self._m2 = np.zeros(n_features)

    def _check_width(self, n_features: int) -> None:
        if self._n_features is None:
            self._allocate(n_features)
        elif n_features != self._n_features:
            raise SchemaError(
                f"These statistics cover {self._n_features} columns; got {n_features} columns. "
                "Every batch and shard must have the same numeric columns."
            )

    def update(self, X: np.ndarray) -> Moments:
        """Fold in the rows of ``X``, shape ``(n_rows, n_features)``, NaN = missing; return self."""
        x = np.asarray(X)
        if x.ndim != 2:
            raise DataError(f"Moments.update expects a 2-D array; got shape {x.shape}.")
        self._check_width(x.shape[1])
        if x.size == 0:
            return self
        from bigfit.data._moments import update_moments  # imports numba: only when needed

        update_moments(x, self._count, self._nulls, self._min, self._max, self._mean, self._m2)
        return self

    def merge(self, other: Moments) -> Moments:
        """Fold the statistics of ``other`` (same columns) in; return self."""
        if other._n_features is None:
            return self
        self._check_width(other._n_features)
        self._absorb(other._count, other._nulls, other._min, other._max, other._mean, other._m2)
        return self

    def _absorb(self, count: np.ndarray, nulls: np.ndarray, mn: np.ndarray, mx: np.ndarray,
                mean: np.ndarray, m2: np.ndarray) -> None:
        na = self._count.astype(np.float64)
        nb = count.astype(np.float64)
        n = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mean - self._mean
            new_mean = self._mean + delta * (nb / n)
            new_m2 = self._m2 + m2 + delta * delta * (na * nb / n)
        # An empty side must leave the other untouched (its mean may be NaN).
        self._mean = np.where(nb == 0, self._mean, np.where(na == 0, mean, new_mean))
        self._m2 = np.where(nb == 0, self._m2, np.where(na == 0, m2, new_m2))
        self._count = self._count + count
        self._nulls = self._nulls + nulls
        self._min = np.fmin(self._min, mn)
        self._max = np.fmax(self._max, mx)

    @property
    def n_features(self) -> int | None:
        """Number of columns, or None before the first update."""
        return self._n_features

    @property
    def count(self) -> np.ndarray:
        """Number of non-missing values per column (int64)."""
        return self._count.copy()

    @property
    def nulls(self) -> np.ndarray:
        """Number of missing (NaN) values per column (int64)."""
        return self._nulls.copy()

    def _where_seen(self, values: np.ndarray) -> np.ndarray:
        return np.where(self._count > 0, values, np.nan)

    @property
    def min(self) -> np.ndarray:
        """Smallest value per column (NaN where a column has no value)."""
        return self._where_seen(self._min)

    @property
    def max(self) -> np.ndarray:
        """Largest value per column (NaN where a column has no value)."""
        return self._where_seen(self._max)

    @property
    def mean(self) -> np.ndarray:
        """Mean per column (NaN where a column has no value)."""
        return self._where_seen(self._mean)

    @property
    def var(self) -> np.ndarray:
        """Population variance (``ddof=0``) per column (NaN where a column has no value)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._where_seen(self._m2 / self._count)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (``ddof=0``) per column."""
        return np.sqrt(self.var)

    def to_state(self) -> dict[str, Any]:
        """Return the statistics as plain data (see :meth:`from_state`)."""
        return {"n_features": self._n_features, "count": self._count.copy(),
                "nulls": self._nulls.copy(), "min": self._min.copy(), "max": self._max.copy(),
                "mean": self._mean.copy(), "m2": self._m2.copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Moments:
        """Rebuild the statistics saved by :meth:`to_state`."""
        moments = cls()
        if state["n_features"] is not None:
            moments._n_features = int(state["n_features"])
            moments._count = np.array(state["count"], dtype=np.int64)
            moments._nulls = np.array(state["nulls"], dtype=np.int64)
            for name in ("min", "max", "mean", "m2"):
                setattr(moments, f"_{name}", np.array(state[name], dtype=np.float64))
        return moments

    def __repr__(self) -> str:
        return f"Moments(n_features={self._n_features}, rows={self._rows()})"

    def _rows(self) -> int:
        return int(self._count[0] + self._nulls[0]) if self._n_features else 0


class DistinctSketch:
    """HyperLogLog estimate of the number of distinct uint64 hashes.

    Memory is ``2**precision`` bytes; the relative standard error is about
    ``1.04 / sqrt(2**precision)`` (0.8% at the default precision 14).  Small counts are
    estimated almost exactly: the estimator is Ertl's (2017) improved raw estimator,
    which needs no bias table and no switch to linear counting.  A hash of 0 marks a
    missing value and is not counted.  Merging takes the register-wise maximum, so it is
    exact: a merged sketch equals the sketch of all the hashes.

    Parameters
    ----------
    precision : int, default 14
        log2 of the number of registers, in [4, 18].

    Examples
    --------
    >>> import numpy as np
    >>> sketch = DistinctSketch().update(np.arange(1, 1001, dtype=np.uint64) % 300 + 1)
    >>> abs(sketch.estimate() - 300) < 10
    True
    """

    def __init__(self, precision: int = 14) -> None:
        if isinstance(precision, bool) or not isinstance(precision, int | np.integer) \
                or not 4 <= precision <= 18:
            raise InvalidParameterError(
                f"The 'precision' parameter of DistinctSketch must be an int in the range "
                f"[4, 18]. Got {precision!r} instead."
            )
        self.precision = int(precision)
        self.registers = np.zeros(1 << self.precision, dtype=np.uint8)

    def update(self, hashes: np.ndarray) -> DistinctSketch:
        """Fold an array of uint64 hashes in (any shape; 0 = missing); return self."""
        h = np.asarray(hashes, dtype=np.uint64).ravel()
        h = h[h != MISSING]
        if len(h) == 0:
            return self
        # Remix so that poorly spread inputs (row numbers, small ints) still work.
        h = mix64(h, seed=0x5EED)
        q = 64 - self.precision
        index = (h >> np.uint64(q)).astype(np.intp)
        rank = np.minimum(_count_leading_zeros(h << np.uint64(self.precision)) + 1, q + 1)
        np.maximum.at(self.registers, index, rank.astype(np.uint8))
        return self

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        """Fold ``other`` (same precision) in; return self."""
        if other.precision != self.precision:
            raise InvalidParameterError(
                f"Cannot merge DistinctSketch objects of precision {self.precision} and "
                f"{other.precision}; build both with the same precision."
            )
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def estimate(self) -> float:
        """Return the estimated number of distinct non-missing hashes."""
        m = len(self.registers)
        q = 64 - self.precision
        histogram = np.bincount(self.registers, minlength=q + 2)
        z = m * _tau(1.0 - histogram[q + 1] / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + histogram[k])
        z += m * _sigma(histogram[0] / m)
        return float(m * m / (2.0 * math.log(2.0)) / z)

    def to_state(self) -> dict[str, Any]:
        """Return the sketch as plain data (see :meth:`from_state`)."""
        return {"precision": self.precision, "registers": self.registers.copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DistinctSketch:
        """Rebuild the sketch saved by :meth:`to_state`."""
        sketch = cls(int(state["precision"]))
        sketch.registers = np.array(state["registers"], dtype=np.uint8)
        return sketch

    def __repr__(self) -> str:
        return f"DistinctSketch(precision={self.precision}, estimate={self.estimate():.0f})"


def _count_leading_zeros(values: np.ndarray) -> np.ndarray:
    """Leading zero bits of each uint64 (64 for 0), exact: float64 holds each 32-bit half."""
    high = (values >> np.uint64(32)).astype(np.float64)
    low = (values & np.uint64(0xFFFFFFFF)).astype(np.float64)
    # frexp's exponent of a positive integer is its bit length (0 for 0).
    bit_length = np.where(high > 0, np.frexp(high)[1] + 32, np.frexp(low)[1])
    return 64 - bit_length


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous, z = z, z + x * y
        y += y
        if z == previous:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        y *= 0.5
        previous, z = z, z - (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


class TopValues:
    """Counts of the most frequent uint64 hashes, in bounded memory.

    Counts are exact while at most ``capacity`` distinct values have been seen.  Past
    that, the sketch becomes a mergeable Misra-Gries summary: it keeps at most
    ``capacity`` counters, each count is a lower bound at most :attr:`max_error` below
    the true count (and ``max_error <= n_seen / (capacity + 1)``), every value more
    frequent than ``n_seen / (capacity + 1)`` is kept, and :attr:`approximate` is True.
    A hash of 0 marks a missing value: it is counted in :attr:`n_missing` only.

    Hashes carry no text, so a caller that knows the values behind some hashes (for
    instance the dictionary of an Arrow dictionary array) passes them to
    :meth:`set_labels`; the sketch keeps a label for each value it still tracks.

    Parameters
    ----------
    capacity : int, default 1024
        Most values tracked at once.

    Examples
    --------
    >>> import numpy as np
    >>> top = TopValues(capacity=10).update(np.array([7, 7, 9, 0, 7], dtype=np.uint64))
    >>> top.set_labels(np.array([7, 9], dtype=np.uint64), ["cat", "dog"]).most_common()
    [('cat', 3), ('dog', 1)]
    >>> top.n_missing, top.approximate
    (1, False)
    """

    def __init__(self, capacity: int = 1024) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) \
                or capacity < 1:
            raise InvalidParameterError(
                f"The 'capacity' parameter of TopValues must be an int in the range [1, inf). "
                f"Got {capacity!r} instead."
            )
        self.capacity = int(capacity)
        self._keys = np.zeros(0, dtype=np.uint64)  # sorted, unique
        self._counts = np.zeros(0, dtype=np.int64)
        self._labels: dict[int, str] = {}
        self.n_seen = 0
        self.n_missing = 0
        self.max_error = 0

    @property
    def approximate(self) -> bool:
        """Whether counters were dropped, so counts are lower bounds."""
        return self.max_error > 0

    def __len__(self) -> int:
        return len(self._keys)

    def update(self, hashes: np.ndarray) -> TopValues:
        """Count an array of uint64 hashes (any shape; 0 = missing); return self."""
        h = np.asarray(hashes, dtype=np.uint64).ravel()
        present = h[h != MISSING]
        self.n_missing += len(h) - len(present)
        self.n_seen += len(present)
        keys, counts = np.unique(present, return_counts=True)
        self._absorb(keys, counts.astype(np.int64))
        return self

    def update_arrow(self, array: pa.Array | pa.ChunkedArray, seed: int = 0) -> TopValues:
        """Count the values of an Arrow array and remember their text as labels; return self.

        ``seed`` must be the one the hashes elsewhere were made with
        (:func:`bigfit.data._hashing.hash_array`).
        """
        self.update(hash_array(array, seed))
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        distinct = array.dictionary if pa.types.is_dictionary(array.type) else pc.unique(array)
        distinct = distinct.drop_null()
        return self.set_labels(hash_array(distinct, seed), [str(v) for v in distinct.to_pylist()])

    def set_labels(self, hashes: np.ndarray, labels: Sequence[object]) -> TopValues:
        """Remember ``labels[i]`` as the text of ``hashes[i]``; return self.

        Only values the sketch tracks keep a label (the first one given wins), so
        memory stays bounded; pass labels again with later batches to label values
        that entered since.
        """
        h = np.asarray(hashes, dtype=np.uint64).ravel()
        if len(h) != len(labels):
            raise DataError(f"set_labels got {len(h)} hashes but {len(labels)} labels.")
        for i in np.flatnonzero(np.isin(h, self._keys)):
            self._labels.setdefault(int(h[i]), str(labels[i]))
        return self

    def merge(self, other: TopValues) -> TopValues:
        """Fold the counts of ``other`` in (keeping this sketch's capacity); return self."""
        self.n_seen += other.n_seen
        self.n_missing += other.n_missing
        self.max_error += other.max_error
        self._absorb(other._keys, other._counts)
        for key, label in other._labels.items():
            self._labels.setdefault(key, label)
        self._prune_labels()
        return self

    def _absorb(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Add sorted unique ``keys`` with ``counts``; shrink to ``capacity`` counters."""
        all_keys = np.concatenate([self._keys, keys])
        if len(all_keys) == 0:
            return
        order = np.argsort(all_keys, kind="stable")
        all_keys = all_keys[order]
        starts = np.flatnonzero(np.r_[True, all_keys[1:] != all_keys[:-1]])
        merged_keys = all_keys[starts]
        merged_counts = np.add.reduceat(np.concatenate([self._counts, counts])[order], starts)
        excess = len(merged_keys) - self.capacity
        if excess > 0:
            # Misra-Gries reduction: subtract the (capacity+1)-th largest count from all.
            cut = int(np.partition(merged_counts, excess - 1)[excess - 1])
            merged_counts = merged_counts - cut
            keep = merged_counts > 0
            merged_keys, merged_counts = merged_keys[keep], merged_counts[keep]
            self.max_error += cut
        self._keys, self._counts = merged_keys, merged_counts
        if excess > 0:
            self._prune_labels()

    def _prune_labels(self) -> None:
        """Forget the labels of values no longer tracked."""
        if not self._labels:
            return
        labelled = np.fromiter(self._labels, dtype=np.uint64, count=len(self._labels))
        for key in labelled[~np.isin(labelled, self._keys)].tolist():
            del self._labels[key]

    def count(self, value_hash: int) -> int:
        """Return the (lower bound of the) count of one hash; 0 when it is not tracked."""
        i = int(np.searchsorted(self._keys, np.uint64(value_hash)))
        found = i < len(self._keys) and int(self._keys[i]) == int(value_hash)
        return int(self._counts[i]) if found else 0

    def top(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(hashes, counts)`` of the ``n`` most frequent values, ties by smaller hash."""
        order = np.lexsort((self._keys, -self._counts))[:n]
        return self._keys[order], self._counts[order]

    def label(self, value_hash: int) -> str | None:
        """Return the label given for a hash, or None."""
        return self._labels.get(int(value_hash))

    def most_common(self, n: int | None = None) -> list[tuple[str, int]]:
        """Return ``[(label, count), ...]`` of the top ``n`` values (no label: ``#<hex hash>``)."""
        keys, counts = self.top(n)
        return [(self._labels.get(int(k), f"#{int(k):016x}"), int(c))
                for k, c in zip(keys, counts, strict=True)]

    def to_state(self) -> dict[str, Any]:
        """Return the counts as plain data (see :meth:`from_state`)."""
        labelled = sorted(self._labels)
        return {"capacity": self.capacity, "keys": self._keys.copy(), "counts": self._counts.copy(),
                "n_seen": self.n_seen, "n_missing": self.n_missing, "max_error": self.max_error,
                "label_hashes": np.array(labelled, dtype=np.uint64),
                "labels": [self._labels[k] for k in labelled]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TopValues:
        """Rebuild the counts saved by :meth:`to_state`."""
        top = cls(int(state["capacity"]))
        top._keys = np.array(state["keys"], dtype=np.uint64)
        top._counts = np.array(state["counts"], dtype=np.int64)
        top.n_seen, top.n_missing = int(state["n_seen"]), int(state["n_missing"])
        top.max_error = int(state["max_error"])
        label_hashes = np.asarray(state["label_hashes"]).tolist()
        top._labels = {int(k): str(v)
                       for k, v in zip(label_hashes, state["labels"], strict=True)}
        return top

    def __repr__(self) -> str:
        return (f"TopValues(capacity={self.capacity}, tracked={len(self)}, "
                f"approximate={self.approximate})")
