"""Randomized PCA (Halko, Martinsson and Tropp 2011) as passes of map-reduce, for wide data.

Write ``X`` for the centred rows in model space and ``G`` for a ``(d, l)`` matrix with
orthonormal columns (at first a Gaussian test matrix).  One pass over the data computes,
shard by shard and batch by batch, never keeping a row:

- ``M = X^T (X G)``, a ``(d, l)`` matrix, and
- on the last pass, the ``R`` factor of ``Y = X G`` by a tall-skinny QR: each batch's
  block is stacked under the shard's running ``R`` and factored again, and shards' ``R``
  factors are combined up the engine's tree the same way.

A power iteration is ``G <- orth(M)`` on the driver (``q`` passes). The last pass gives
``Y = Q R``; with the SVD ``R = U S V^T``, ``Q' = Y V S^-1`` is an orthonormal basis of the
range of ``Y`` and ``B^T = X^T Q' = M V S^-1``, whose SVD gives the principal axes.  So a
fit costs ``2 + q`` passes with the one that fits the feature transform, and ``n x l``
values never exist beyond one batch.

Rows are shifted near their mean, not centred exactly: every pass also sums the shifted
rows, and the centring is applied to the small results (``Y``'s centring by QR of ``[Y 1]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.engine.base import Broadcast, Engine
from bigfit.models.decomposition._space import FeatureSpace, ShiftedRows, column_reduce, reusable

# Singular values of Y below this share of the largest are rounding noise: dividing by them
# would amplify errors, and the directions they stand for carry no variance.
_RANK_TOL = float(np.sqrt(np.finfo(np.float64).eps))


@dataclass(frozen=True)
class RangePlan:
    """What every task of a randomized pass needs (broadcast: ``basis`` may be large).

    ``basis`` is ``G`` in input units (model space's scaling folded in).
    """

    space: FeatureSpace
    basis: np.ndarray
    with_r: bool
    batch_size: int | None = None


class RangeSums:
    """Sums over rows of one pass: count, column sums and squares, ``X^T X G`` and ``R``."""

    def __init__(self, n_features: int, width: int, with_r: bool) -> None:
        self.count = 0
        self.total = np.zeros(n_features)
        self.squares = np.zeros(n_features)
        self.product = np.zeros((n_features, width))
        self.r: np.ndarray | None = np.zeros((0, width + 1)) if with_r else None

    def update(self, rows: ShiftedRows, basis: np.ndarray) -> None:
        """Fold one batch of shifted rows in."""
        p = rows.numeric.shape[1]
        y = rows.matmul(basis)
        self.count += len(rows)
        self.product += rows.rmatmul(y)
        self.total[:p] += column_reduce(np.add, rows.numeric)
        self.squares[:p] += np.einsum("ij,ij->j", rows.numeric, rows.numeric)
        if rows.onehot is not None:
            counts = np.asarray(rows.onehot.sum(axis=0)).ravel()  # indicators: x^2 = x
            self.total[p:] += counts
            self.squares[p:] += counts
        if self.r is not None:
            block = np.hstack([y, np.ones((len(y), 1))])
            self.r = _stack_r(self.r, block)

    def merge(self, other: RangeSums) -> RangeSums:
        """Fold another part of the rows in (every task shares the shift); return self."""
        self.count += other.count
        self.total += other.total
        self.squares += other.squares
        self.product += other.product
        if self.r is not None and other.r is not None:
            self.r = _stack_r(self.r, other.r)
        return self


def _stack_r(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The R factor of ``[top; bottom]``: one step of the tall-skinny QR."""
    return np.linalg.qr(np.vstack([top, bottom]), mode="r")


def range_shard(shard: Any, plan: RangePlan | Broadcast[RangePlan]) -> RangeSums:
    """Engine task: the :class:`RangeSums` of one shard."""
    if isinstance(plan, Broadcast):
        plan = plan.value
    space = plan.space
    assert space.shift is not None
    sums = RangeSums(plan.basis.shape[0], plan.basis.shape[1], plan.with_r)
    buffer = np.empty((0, len(space.shift)))  # float64 rows, reused by every batch
    for batch in shard.batches(plan.batch_size, prefetch=2):
        if len(batch):
            X, codes = space.prepare(batch)
            buffer = reusable(buffer, X)
            sums.update(space.shifted(X, codes, space.shift, out=buffer), plan.basis)
    return sums


def merge_range(left: RangeSums, right: RangeSums) -> RangeSums:
    """Engine combine: fold ``right`` into ``left``."""
    return left.merge(right)


@dataclass(frozen=True)
class RandomizedResult:
    """What the driver keeps of the passes: the sketch ``B^T`` and the data's moments."""

    sketch: np.ndarray  # B^T in model space, (d, r)
    count: int
    mean: np.ndarray  # in input units (numeric columns) / frequencies (one-hot columns)
    variance: np.ndarray  # of each feature, in model space
    passes: int


def randomized_range(shards: list[Any], engine: Engine, space: FeatureSpace, scale: np.ndarray,
                     width: int, power_iterations: int, seed: int,
                     batch_size: int | None = None) -> RandomizedResult:
    """Run the ``1 + power_iterations`` passes; ``scale`` divides each feature (model space)."""
    assert space.shift is not None
    d = len(scale)
    inverse = 1.0 / scale
    basis = np.random.default_rng(seed).standard_normal((d, width))
    passes = 0
    while True:
        last = passes == power_iterations
        plan = RangePlan(space, basis * inverse[:, None], with_r=last, batch_size=batch_size)
        sums = engine.map_reduce(range_shard, shards, merge_range, engine.broadcast(plan))
        passes += 1
        offset = sums.total / sums.count  # mean of the shifted rows
        # X^T X G of the centred rows, in model space: (S - n m m^T) G, scaled.
        product = (sums.product - np.outer(sums.total, offset @ plan.basis)) * inverse[:, None]
        if last:
            break
        basis = np.linalg.qr(product)[0]
    assert sums.r is not None
    sketch = _sketch(sums.r, offset @ plan.basis, product)
    variance = (sums.squares - sums.total * offset) * inverse**2
    mean = offset.copy()
    mean[: len(space.shift)] += space.shift  # type: ignore[arg-type]
    return RandomizedResult(sketch, sums.count, mean, variance / (sums.count - 1), passes)


def _sketch(r_augmented: np.ndarray, centre: np.ndarray, product: np.ndarray) -> np.ndarray:
    """``B^T = M V S^-1`` from the R factor of ``[Y_shifted 1]``.

    ``Y = [Y_shifted 1] T`` with ``T = [I; -centre^T]``, so ``Y``'s singular values and
    right vectors are those of ``R T``.
    """
    width = len(centre)
    transform = np.vstack([np.eye(width), -centre[None, :]])
    _, singular, right_t = np.linalg.svd(r_augmented @ transform, full_matrices=False)
    keep = singular > _RANK_TOL * (singular[0] if len(singular) else 0.0)
    sketch = product @ (right_t[keep].T / singular[keep])
    if sketch.shape[1] < width:  # rank-deficient data: zero columns stand for absent directions
        sketch = np.hstack([sketch, np.zeros((len(sketch), width - sketch.shape[1]))])
    return sketch
