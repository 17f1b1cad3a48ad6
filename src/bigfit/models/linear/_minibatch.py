"""Epochs of mini-batch steps: in one process, or by iterative parameter mixing.

With one worker, each epoch streams the training set (shards in a seeded order, rows
shuffled in a bounded window) and takes a step per mini-batch.  With several, each epoch
is a round of :meth:`Engine.map`: every worker runs the same loop over its group of shards
from the current weights, and the driver averages the weights (and the optimizer's slots)
by rows seen (Mann et al. 2009; McDonald et al. 2010).  The same seed and worker count
give the same model.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.dataset import Dataset
from bigfit.data.transforms import FeatureTransformer
from bigfit.engine.base import Engine
from bigfit.exceptions import DataError
from bigfit.models._checkpoint import RunCheckpoint
from bigfit.models.callbacks import CallbackList
from bigfit.models.linear._design import LinearDesign
from bigfit.models.linear._ftrl import FTRL
from bigfit.models.linear._loss import Loss
from bigfit.models.linear._optimizers import SGD, AdaGrad, Adam, train_batch
from bigfit.models.linear._prepare import BatchPreparer

DEFAULT_BATCH = 1_024
# SGD's largest step on a batch, in units of 1 / (the curvature bound of one row's loss).
# Measured with benchmarks/linear.py (10M rows x 52 columns): 4 reaches the optimal holdout loss
# + 0.001 in one epoch, 2 and 8 in two and three, 1 in more; 16 and more are noisy.
STEP_SCALE = 4.0


def batch_size_for(rows: int | None) -> int:
    """Default rows per mini-batch step: 1024, or fewer so small data still takes 32 steps."""
    if rows is None:
        return DEFAULT_BATCH
    return int(min(DEFAULT_BATCH, max(8, rows // 32)))
DIVERGED = 1e6  # a mini-batch loss this many times the first one means the steps diverge


@dataclass
class MinibatchResult:
    """What the epoch loop learned."""

    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RoundTask:
    """One worker's round: its starting weights and optimizer, and how to read its shards."""

    coef: np.ndarray
    intercept: np.ndarray
    optimizer: Any
    preparer: BatchPreparer
    design: LinearDesign
    loss: Loss
    batch_size: int
    seed: int
    epoch: int


@dataclass
class RoundResult:
    """A worker's weights after its round, with the rows and loss it saw."""

    coef: np.ndarray
    intercept: np.ndarray
    optimizer: Any
    rows: int
    loss_sum: float
    weight_sum: float


def make_optimizer(model: Any, solver: str, loss: Loss, steps_per_epoch: int,
                   transformer: FeatureTransformer) -> Any:
    """Build the mini-batch optimizer named by ``solver`` from the model's hyperparameters.

    FTRL's penalties act on the sum of its steps' losses, ours on their mean over an
    epoch, so FTRL gets ``alpha`` times the number of steps in an epoch.  SGD's steps on
    a batch are capped at :func:`step_limit`.
    """
    alpha, l1_ratio = model.alpha, model.l1_ratio
    if solver == "sgd":
        return SGD(model.learning_rate, eta0=model.eta0, alpha=alpha, l1_ratio=l1_ratio, loss=loss,
                   schedule_alpha=alpha if alpha > 0 else 1e-4,
                   max_step=step_limit(transformer, loss))
    if solver == "adagrad":
        return AdaGrad(model.eta0, alpha=alpha, l1_ratio=l1_ratio)
    if solver == "adam":
        return Adam(model.eta0, alpha=alpha, l1_ratio=l1_ratio)
    scale = alpha * steps_per_epoch
    return FTRL(alpha=model.eta0, l1=scale * l1_ratio, l2=scale * (1 - l1_ratio))


def step_limit(transformer: FeatureTransformer, loss: Loss) -> float:
    """``STEP_SCALE / L``, with ``L`` a bound of the curvature of the loss of one row.

    ``L = curvature(loss) * E ||x||^2`` over the model's inputs: each standardised column
    (or ``var + mean^2`` of a raw one), one active code per categorical column, and the
    intercept; the first pass's statistics give it.  A batch's mean loss curves less than
    one row's (by up to the number of columns, when they are uncorrelated), hence
    ``STEP_SCALE``.
    """
    if transformer.standardize:
        squares = float(np.count_nonzero(transformer.var_ > 0))
    else:
        squares = float(np.sum(transformer.var_ + transformer.mean_**2))
    squares += len(transformer.categorical_features_in_) + 1.0
    return STEP_SCALE / (loss.curvature * squares)


def run_round(shards: Sequence[Any], task: RoundTask) -> RoundResult:
    """Engine task: one epoch of mini-batch steps over ``shards`` from the task's weights."""
    coef, intercept = task.coef.copy(), task.intercept.copy()
    optimizer = copy.deepcopy(task.optimizer)
    rows, loss_sum, weight_sum = take_steps(
        (task.preparer(b) for shard in shards for b in shard.batches()), task, coef, intercept,
        optimizer, np.random.default_rng([task.seed, task.epoch]))
    return RoundResult(coef, intercept, optimizer, rows, loss_sum, weight_sum)


def take_steps(batches: Iterable[Batch], task: RoundTask, coef: np.ndarray, intercept: np.ndarray,
           optimizer: Any, rng: np.random.Generator | None) -> tuple[int, float, float]:
    """Take a step per mini-batch of ``batches`` (prepared by ``task.preparer``); return rows,
    loss sum and weight sum.

    With ``rng``, each batch's rows are permuted before it is cut into steps; without, the
    steps are contiguous slices (views, no copy), for streams that are already shuffled.
    """
    rows, loss_sum, weight_sum = 0, 0.0, 0.0
    first: float | None = None
    for prepared in batches:
        if not len(prepared):
            continue
        order = rng.permutation(len(prepared)) if rng is not None else None
        positive = prepared.w is None or bool(prepared.w.min() > 0)  # no step of zero weight
        for start in range(0, len(prepared), task.batch_size):
            rows_of_step = slice(start, start + task.batch_size) if order is None \
                else order[start:start + task.batch_size]
            part = prepared.take(rows_of_step)
            if not positive and not part.w.sum() > 0:
                continue
            mean, weight = train_batch(optimizer, part, task.design, task.loss, coef, intercept,
                                       exact=False)
            first = mean if first is None else first
            if not np.isfinite(mean) or mean > DIVERGED * max(first, 1.0):
                raise DataError(
                    f"The loss diverged at epoch {task.epoch + 1} (from {first:.4g} to {mean:.4g}) "
                    f"with eta0={getattr(task.optimizer, 'eta0', None)}; lower the learning rate "
                    "(eta0), or use learning_rate='optimal' or solver='adam'.")
            rows += len(part)
            loss_sum += mean * weight
            weight_sum += weight
    if hasattr(optimizer, "flush"):
        optimizer.flush(coef)
    return rows, loss_sum, weight_sum


def fit_minibatch(model: Any, solver: str, train: Dataset, valid_shards: list[Any] | None,
                  engine: Engine, preparer: BatchPreparer, design: LinearDesign, loss: Loss,
                  events: CallbackList, checkpoint: RunCheckpoint) -> MinibatchResult:
    """Run up to ``model.max_iter`` epochs with early stopping on the validation loss.

    Checkpoints are taken at epoch boundaries: a resumed run restarts at the epoch after
    the last checkpoint, with the same seeds, so it ends with the same model.
    """
    from bigfit.models.linear._base import mean_loss

    coef, intercept = design.zeros()
    seed = model.random_state or 0
    size = model.batch_size or batch_size_for(model.n_rows_seen_)
    optimizer = make_optimizer(model, solver, loss, max(1, -(-model.n_rows_seen_ // size)),
                               model.transformer_)
    result = MinibatchResult(coef, intercept, 0)
    best, stale, start = np.inf, 0, 0
    saved = checkpoint.state if checkpoint.state and checkpoint.state["solver"] == solver else None
    if saved:
        coef, intercept = np.array(saved["coef"]), np.array(saved["intercept"])
        optimizer.load_state_dict(saved["optimizer"])
        best, stale, start = saved["best"], saved["stale"], saved["epoch"]
        result.history, result.n_iter = list(saved["history"]), saved["epoch"]
    shards = train.shards()
    groups = _groups(len(shards), engine.workers)
    for epoch in range(start, model.max_iter):
        started = time.perf_counter()
        task = RoundTask(coef, intercept, optimizer, preparer, design, loss, size, seed, epoch)
        if engine.workers == 1:
            # Shuffled already, and prepared in the read-ahead thread while steps run here.
            stream = train.batches(shuffle=True, seed=seed, epoch=epoch, transform=preparer)
            rows, loss_sum, weight_sum = take_steps(stream, task, coef, intercept, optimizer, None)
        else:
            rng = np.random.default_rng([seed, epoch])
            order = rng.permutation(len(shards))
            parts = [[shards[order[i]] for i in group] for group in groups]
            rounds = engine.map(_RoundOn(task), parts)
            coef, intercept, optimizer = _mix(rounds, optimizer.state_dict())
            rows = sum(r.rows for r in rounds)
            loss_sum = sum(r.loss_sum for r in rounds)
            weight_sum = sum(r.weight_sum for r in rounds)
        seconds = time.perf_counter() - started
        logs: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / max(weight_sum, 1e-300),
                                "seconds": seconds, "rows_per_second": rows / max(seconds, 1e-9)}
        monitored = logs["train_loss"]
        if valid_shards is not None:
            logs["validation_loss"] = monitored = mean_loss(
                valid_shards, engine, preparer, design, loss, coef, intercept)
        result.history.append(logs)
        result.n_iter = epoch + 1
        if monitored < best - model.tol:
            best, stale = monitored, 0
        else:
            stale += 1
        if checkpoint.due:
            checkpoint.save({"solver": solver, "epoch": epoch + 1, "coef": coef,
                             "intercept": intercept, "optimizer": optimizer.state_dict(),
                             "history": result.history, "best": float(best), "stale": stale})
        events.on_epoch_end(epoch + 1, logs)
        if stale >= model.n_iter_no_change:
            if solver == "sgd" and model.learning_rate == "adaptive" and \
                    optimizer.current_learning_rate > 1e-6:
                optimizer.reduce_learning_rate()
                stale = 0
            else:
                break
    result.coef, result.intercept = coef, intercept
    return result


class _RoundOn:
    """``run_round`` bound to a task, as a one-argument picklable callable."""

    def __init__(self, task: RoundTask) -> None:
        self.task = task

    def __call__(self, shards: Sequence[Any]) -> RoundResult:
        return run_round(shards, self.task)


def _groups(n_shards: int, workers: int) -> list[list[int]]:
    """Split shard positions into ``workers`` interleaved groups."""
    return [list(range(w, n_shards, workers)) for w in range(min(workers, n_shards))]


def _mix(rounds: list[RoundResult], before: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, Any]:
    """Average the workers' weights and optimizer slots, weighted by the rows each saw.

    Counters (steps, samples) add up what every worker did since ``before``, so learning-rate
    schedules decay as if one process had taken every step.
    """
    weights = np.array([max(r.rows, 0) for r in rounds], dtype=np.float64)
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(rounds), 1 / len(rounds))
    coef = sum(w * r.coef for w, r in zip(weights, rounds, strict=True))
    intercept = sum(w * r.intercept for w, r in zip(weights, rounds, strict=True))
    states = [r.optimizer.state_dict() for r in rounds]
    mixed = {}
    for key, value in states[0].items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            mixed[key] = sum(w * s[key] for w, s in zip(weights, states, strict=True))
        elif isinstance(value, int | float) and not isinstance(value, bool) and key in before:
            mixed[key] = before[key] + sum(s[key] - before[key] for s in states)
        else:
            mixed[key] = value
    optimizer = rounds[0].optimizer
    optimizer.load_state_dict(mixed)
    return np.asarray(coef), np.asarray(intercept), optimizer
