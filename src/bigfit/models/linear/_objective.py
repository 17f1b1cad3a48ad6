"""The regularised objective of a linear model, as a map-reduce over shards.

    F(coef, b) = (1 / sum_i w_i) sum_i w_i loss(z_i, y_i)
                 + alpha (l1_ratio ||coef||_1 + (1 - l1_ratio) / 2 ||coef||_2^2)

with ``z = design.scores(coef, b, X, codes)``; the intercept ``b`` is never penalised.
Each shard yields a :class:`Partial` (loss sum, gradient sums, weight sum, rows); partials
add up with :func:`combine`.  :class:`Objective` returns the smooth part of ``F`` (the data
term and the L2 term) and its gradient; the L1 term is left to the optimizer (OWL-QN in
:func:`~bigfit.models.linear._lbfgs.minimize`, proximal steps in mini-batch optimizers).

Mapping to scikit-learn, with ``n = sum(w)`` (the number of rows when unweighted):
``LogisticRegression(C=1 / (alpha * n))`` (``l1_ratio=0``; with ``l1_ratio=1`` the L1
penalty), ``Ridge(alpha=alpha * n)``, ``Lasso(alpha=alpha)``, ``ElasticNet(alpha, l1_ratio)``
and ``SGDClassifier``/``SGDRegressor(alpha, l1_ratio)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.shards import Shard
from bigfit.engine.base import Broadcast, Engine, tree_combine
from bigfit.exceptions import DataError, EmptyDatasetError
from bigfit.models.linear._design import CodeIndex, LinearDesign, SparseGradient
from bigfit.models.linear._loss import Loss

Prepare = Callable[[Batch], Batch]


@dataclass(frozen=True, slots=True)
class RowSparse:
    """A ``shape`` array that is zero outside ``rows`` (sorted, distinct).

    The gradient of a shard of hashed rows touches a few hundred of the 2**18 rows of each
    hashed column: partials travel and add up in this form, and the driver builds one
    dense array at the end (:meth:`toarray`).  Every sum equals, bit for bit, the one the
    dense arrays would give (up to the sign of a zero).
    """

    shape: tuple[int, ...]
    rows: np.ndarray
    values: np.ndarray

    @classmethod
    def from_dense(cls, array: np.ndarray) -> RowSparse:
        """The non-zero rows of ``array``."""
        rows = np.flatnonzero(np.any(array != 0, axis=1))
        return cls(array.shape, rows, array[rows])

    def __add__(self, other: RowSparse) -> RowSparse:
        rows = np.union1d(self.rows, other.rows)
        values = np.zeros((len(rows), *self.shape[1:]), dtype=np.result_type(self.values, other.values))
        values[np.searchsorted(rows, self.rows)] = self.values
        values[np.searchsorted(rows, other.rows)] += other.values
        return RowSparse(self.shape, rows, values)

    def add_to(self, dense: np.ndarray) -> np.ndarray:
        """Return ``dense`` plus this array, in a new array."""
        total = np.array(dense, dtype=np.result_type(dense, self.values))
        total[self.rows] += self.values
        return total

    def toarray(self) -> np.ndarray:
        """The dense array."""
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        dense[self.rows] = self.values
        return dense


@dataclass(frozen=True, slots=True)
class Partial:
    """Sums over some rows: ``sum w_i loss_i``, its gradient, ``sum w_i`` and the row count
    (rows of weight 0 included).

    The gradients are None when the pass asked for the loss only.  ``grad_coef`` of a
    partial that crossed processes is a :class:`RowSparse` until :meth:`dense` is called.
    """

    loss_sum: float
    grad_coef: np.ndarray | RowSparse | None
    grad_intercept: np.ndarray | None
    weight_sum: float
    rows: int

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Between processes, only the gradient rows that are not zero travel.
        grad = self.grad_coef
        if isinstance(grad, np.ndarray):
            grad = RowSparse.from_dense(grad)
        return Partial, (self.loss_sum, grad, self.grad_intercept, self.weight_sum, self.rows)

    def dense(self) -> Partial:
        """This partial with a dense ``grad_coef``."""
        if not isinstance(self.grad_coef, RowSparse):
            return self
        return replace(self, grad_coef=self.grad_coef.toarray())


def combine(left: Partial, right: Partial) -> Partial:
    """Return the sums over the rows of both partials (associative; used as ``combine``)."""
    return Partial(left.loss_sum + right.loss_sum, _add(left.grad_coef, right.grad_coef),
                   _add(left.grad_intercept, right.grad_intercept),
                   left.weight_sum + right.weight_sum, left.rows + right.rows)


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(b, RowSparse) and not isinstance(a, RowSparse):
        return b.add_to(a)
    if isinstance(a, RowSparse) and not isinstance(b, RowSparse):
        return a.add_to(b)
    return a + b


@dataclass(frozen=True)
class ShardTask:
    """Everything a shard needs to compute its :class:`Partial` (the ``state`` of ``map_reduce``).

    ``prepare(batch) -> batch`` turns a raw batch into model input (``X`` float32, ``codes``,
    ``y`` as the loss expects it); None uses batches as they come.
    """

    coef: np.ndarray
    intercept: np.ndarray
    design: LinearDesign
    loss: Loss
    prepare: Prepare | None = None
    batch_size: int | None = None
    with_gradient: bool = True

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Between processes, a coefficient table that is mostly zero (hashed columns: the
        # buckets some row reached) travels as its non-zero rows.
        coef: np.ndarray | RowSparse = self.coef
        sparse = RowSparse.from_dense(self.coef)
        if 2 * len(sparse.rows) < len(self.coef):
            coef = sparse
        return _shard_task, (coef, self.intercept, self.design, self.loss, self.prepare,
                             self.batch_size, self.with_gradient)


def _shard_task(coef: np.ndarray | RowSparse, *fields: Any) -> ShardTask:
    return ShardTask(coef.toarray() if isinstance(coef, RowSparse) else coef, *fields)


def _loss_terms(batch: Batch, design: LinearDesign, loss: Loss, coef: np.ndarray,
                intercept: np.ndarray, exact: bool = True) -> tuple[float, np.ndarray, float]:
    """``sum w_i loss_i``, ``w_i dloss/dz_i`` and ``sum w_i`` of one prepared batch."""
    if batch.y is None:
        raise DataError("The batch has no target column; linear models need y to fit.")
    z = design.scores(coef, intercept, batch.X, batch.codes, exact=exact)
    loss_sum, dz = loss.loss_and_gradient(z if loss.multi_output else z[:, 0], batch.y, batch.w)
    weight_sum = float(len(batch)) if batch.w is None else float(np.sum(batch.w, dtype=np.float64))
    return loss_sum, dz, weight_sum


def batch_terms(batch: Batch, design: LinearDesign, loss: Loss, coef: np.ndarray,
                intercept: np.ndarray, *, with_gradient: bool = True) -> Partial:
    """Return the :class:`Partial` of one prepared batch."""
    return _add_terms(None, batch, design, loss, coef, intercept, with_gradient)


def _add_terms(total: Partial | None, batch: Batch, design: LinearDesign, loss: Loss,
               coef: np.ndarray, intercept: np.ndarray, with_gradient: bool) -> Partial:
    """``total`` plus the terms of ``batch``; the gradient arrays of ``total`` are reused."""
    loss_sum, dz, weight_sum = _loss_terms(batch, design, loss, coef, intercept)
    grad_coef = grad_intercept = None
    if with_gradient:
        out = None if total is None else (total.grad_coef, total.grad_intercept)
        grad_coef, grad_intercept = design.gradient(batch.X, batch.codes, dz, out)
    if total is None:
        return Partial(loss_sum, grad_coef, grad_intercept, weight_sum, len(batch))
    return Partial(total.loss_sum + loss_sum, grad_coef, grad_intercept,
                   total.weight_sum + weight_sum, total.rows + len(batch))


def batch_gradient(batch: Batch, design: LinearDesign, loss: Loss, coef: np.ndarray,
                   intercept: np.ndarray, *, index: CodeIndex | None = None,
                   exact: bool = True) -> tuple[float, float, SparseGradient]:
    """Return the batch's weighted mean loss, its weight sum ``sum(w)`` and its mean gradient.

    The gradient names only the codes present (:class:`SparseGradient`; ``index``, the
    batch's distinct codes and their ranks, when known); it is what the mini-batch
    optimizers' ``step`` takes.
    ``exact=False`` multiplies in float32 (see :mod:`~bigfit.models.linear._design`).
    Regularisation is left to the optimizer.
    """
    loss_sum, dz, weight_sum = _loss_terms(batch, design, loss, coef, intercept, exact)
    if weight_sum <= 0:
        raise DataError("The batch has zero total sample weight; it cannot give a mean gradient.")
    dz *= 1.0 / weight_sum
    grad = design.sparse_gradient(batch.X, batch.codes, dz, index, exact=exact)
    return loss_sum / weight_sum, weight_sum, grad


def iter_batches(shard: Any, batch_size: int | None = None) -> Iterator[Batch]:
    """Yield the batches of ``shard``: a :class:`Batch`, a :class:`~bigfit.data.shards.Shard`,
    anything with ``batches(batch_size)`` or an iterable of batches.

    A shard's rows on the other side of a holdout split may come with weight 0
    (``holdout_weights``): every use here adds up weighted terms.
    """
    if isinstance(shard, Batch):
        yield shard
    elif isinstance(shard, Shard):
        yield from shard.batches(batch_size, holdout_weights=True)
    elif hasattr(shard, "batches"):
        yield from shard.batches(batch_size)
    else:
        yield from shard


def shard_terms(shard: Any, state: ShardTask | Broadcast[ShardTask]) -> Partial:
    """Return the :class:`Partial` of every row of ``shard`` (the ``fn`` of ``map_reduce``)."""
    task = state.value if isinstance(state, Broadcast) else state
    total: Partial | None = None
    for raw in iter_batches(shard, task.batch_size):
        batch = raw if task.prepare is None else task.prepare(raw)
        total = _add_terms(total, batch, task.design, task.loss, task.coef, task.intercept,
                           task.with_gradient)
    if total is None:  # an empty shard (e.g. all rows on the other side of the holdout)
        n_out = task.design.n_outputs
        zeros = task.with_gradient
        return Partial(0.0, np.zeros((task.design.n_features, n_out)) if zeros else None,
                       np.zeros(n_out) if zeros else None, 0.0, 0)
    return total


class Objective:
    """The smooth part of ``F`` and its gradient over flat parameters, for L-BFGS.

    Parameters
    ----------
    shards : sequence
        Shards (or in-memory batches, or lists of batches) holding the training rows.
    design : LinearDesign
    loss : Loss
    alpha, l1_ratio : float
        Regularisation strength and mix (see the module docstring).
    prepare : callable or None
        ``prepare(batch) -> batch`` applied to each raw batch in the tasks.
    engine : Engine or None
        Runs one task per shard with ``map_reduce``; the parameters are broadcast once per
        evaluation.  None computes in this process, shard after shard.
    batch_size : int or None
        Rows per batch read from a shard.

    Attributes
    ----------
    l1 : float
        ``alpha * l1_ratio``: the L1 weight to pass to ``minimize``.
    l1_mask : ndarray of bool
        The coordinates that carry the L1 penalty (``coef``, not the intercept).
    n_evaluations : int
        Passes over the data so far.
    """

    def __init__(self, shards: Sequence[Any], design: LinearDesign, loss: Loss, *,
                 alpha: float, l1_ratio: float = 0.0, prepare: Prepare | None = None,
                 engine: Engine | None = None, batch_size: int | None = None) -> None:
        if not shards:
            raise EmptyDatasetError("The objective needs at least one shard of training rows.")
        self.shards, self.design, self.loss = list(shards), design, loss
        self.alpha, self.l1_ratio = float(alpha), float(l1_ratio)
        self.prepare, self.engine, self.batch_size = prepare, engine, batch_size
        self.l1 = self.alpha * self.l1_ratio
        self.l1_mask = design.penalty_mask()
        self.n_evaluations = 0

    def sums(self, coef: np.ndarray, intercept: np.ndarray, *,
             with_gradient: bool = True) -> Partial:
        """Return the data sums over every shard (no penalty): one pass over the data."""
        task = ShardTask(coef, intercept, self.design, self.loss, self.prepare,
                         self.batch_size, with_gradient)
        self.n_evaluations += 1
        if self.engine is None:
            total = tree_combine((shard_terms(s, task) for s in self.shards), combine)
        else:
            total = self.engine.map_reduce(shard_terms, self.shards, combine,
                                           self.engine.broadcast(task))
        if total.weight_sum <= 0:
            raise EmptyDatasetError("The training data holds no rows (or zero total weight).")
        return total.dense()

    def __call__(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """Return ``(F - L1 term, gradient)`` at flat ``params`` (:meth:`LinearDesign.pack`)."""
        coef, intercept = self.design.unpack(np.asarray(params, dtype=np.float64))
        total = self.sums(coef, intercept)
        assert isinstance(total.grad_coef, np.ndarray) and total.grad_intercept is not None
        scale = 1.0 / total.weight_sum
        l2 = self.alpha * (1.0 - self.l1_ratio)
        value = total.loss_sum * scale + 0.5 * l2 * float(np.vdot(coef, coef))
        grad_coef = total.grad_coef * scale + l2 * coef
        return value, self.design.pack(grad_coef, total.grad_intercept * scale)

    def penalty(self, params: np.ndarray) -> float:
        """The L1 term ``l1 * ||coef||_1`` that ``__call__`` leaves out."""
        return self.l1 * float(np.abs(np.asarray(params)[self.l1_mask]).sum())


def objective(engine: Engine | None, shards: Sequence[Any] | Iterable[Any],
              prepare: Prepare | None, design: LinearDesign, loss: Loss, alpha: float,
              l1_ratio: float = 0.0, *, batch_size: int | None = None) -> Objective:
    """Return the :class:`Objective` ``params -> (F_smooth, gradient)`` over ``shards``.

    Minimise it with ``minimize(obj, x0, l1=obj.l1, l1_mask=obj.l1_mask)``.
    """
    return Objective(list(shards), design, loss, alpha=alpha, l1_ratio=l1_ratio,
                     prepare=prepare, engine=engine, batch_size=batch_size)
