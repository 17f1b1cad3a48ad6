"""The machinery every linear estimator shares: fit, predict, evaluate and save.

A subclass only says which loss it minimises and how it reads predictions; ``fit`` does:

1. one pass over the training shards (``map_reduce``) that gathers the feature
   transformer's statistics and the target's classes and counts;
2. the solver: L-BFGS (OWL-QN with L1) whose objective is one ``map_reduce`` per
   evaluation, or epochs of mini-batch steps (SGD, AdaGrad, Adam, FTRL) with iterative
   parameter mixing when the engine has several workers;
3. after each epoch, the validation loss on the holdout split, for ``history_`` and early
   stopping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator

from bigfit._params import InstanceOf, Interval, Options, validate_params
from bigfit.data.batch import Batch
from bigfit.data.dataset import Dataset
from bigfit.data.transforms import FeatureTransformer
from bigfit.engine.base import Engine
from bigfit.exceptions import DataError, InvalidParameterError
from bigfit.models._checkpoint import RunCheckpoint
from bigfit.models._engine import running_engine, shards_for
from bigfit.models._fitted import FittedOnData, not_fitted
from bigfit.models._inputs import as_dataset
from bigfit.models.callbacks import Callback, CallbackList
from bigfit.models.linear._design import LinearDesign, StandardizedDesign
from bigfit.models.linear._lbfgs import OptimizerState, minimize
from bigfit.models.linear._loss import Loss
from bigfit.models.linear._minibatch import (
    DEFAULT_BATCH,
    RoundTask,
    fit_minibatch,
    make_optimizer,
    take_steps,
)
from bigfit.models.linear._objective import Objective
from bigfit.models.linear._prepare import (
    BatchPreparer,
    FirstPassPlan,
    first_pass_shard,
    merge_first_pass,
)
from bigfit.models.linear._target import TargetSummary

if TYPE_CHECKING:
    import onnx

SOLVERS = ("lbfgs", "sgd", "adagrad", "adam", "ftrl")

COMMON_CONSTRAINTS: dict[str, list[Any]] = {
    "alpha": [Interval(float, 0.0, None)],
    "l1_ratio": [Interval(float, 0.0, 1.0)],
    "solver": [Options(frozenset({"auto", *SOLVERS}))],
    "max_iter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0.0, None)],
    "batch_size": [None, Interval(int, 1, None)],
    "learning_rate": [Options(frozenset({"optimal", "constant", "invscaling", "adaptive"}))],
    "eta0": [Interval(float, 0.0, None, closed="neither")],
    "early_stopping": [InstanceOf(bool)],
    "validation_fraction": [Interval(float, 0.0, 1.0, closed="neither")],
    "n_iter_no_change": [Interval(int, 1, None)],
    "standardize": [InstanceOf(bool)],
    "categorical": [Options(frozenset({"hash", "onehot"}))],
    "n_buckets": [Interval(int, 1, None)],
    "max_categories": [Interval(int, 1, None)],
    "impute": [Options(frozenset({"mean", "constant", "error"}))],
    "random_state": [None, Interval(int, 0, None)],
    "cache": [InstanceOf(bool)],
    "class_weight": [None, Options(frozenset({"balanced"})), InstanceOf(dict)],
    "epsilon": [Interval(float, 0.0, None)],
    "loss": [Options(frozenset({"log_loss", "hinge", "squared_error", "huber"}))],
}


class LinearModel(FittedOnData, BaseEstimator):
    """Base class of bigfit's linear estimators (not for direct use).

    Subclasses set ``_default_solver`` and implement :meth:`_make_loss` and
    :meth:`_target_setup`; hyperparameters are their ``__init__`` keywords.
    """

    _default_solver = "lbfgs"
    _classifier = False

    # -- fitting -------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, *,
            callbacks: Sequence[Callback] | None = None, checkpoint_dir: str | None = None,
            checkpoint_every: float = 60.0, resume: bool = False) -> LinearModel:
        """Fit the model on a :class:`~bigfit.Dataset` or on arrays / DataFrames.

        Parameters
        ----------
        X : Dataset, array-like of shape (n_samples, n_features) or DataFrame
            Training data; a Dataset is streamed in bounded memory and carries its target
            (and weight) column, so ``y`` and ``sample_weight`` must then be None.
        y : array-like of shape (n_samples,), optional
        sample_weight : array-like of shape (n_samples,), optional
        callbacks : sequence of Callback, optional
            Receive progress events (see :mod:`bigfit.models.callbacks`).
        checkpoint_dir : str, optional
            Write the run's state (weights, optimizer state, epoch) there, atomically, at
            most every ``checkpoint_every`` seconds, at epoch (or L-BFGS iteration)
            boundaries.
        checkpoint_every : float, default=60.0
        resume : bool, default=False
            Continue from the checkpoint in ``checkpoint_dir``: the run ends with the same
            model as an uninterrupted one. A checkpoint of other data or parameters is
            refused.

        Returns
        -------
        self
        """
        validate_params(type(self).__name__, self.get_params(), self._constraints())
        data = as_dataset(X, y, sample_weight, memory_limit=self.memory_limit,
                          classification=self._classifier)
        self._reset()
        events = CallbackList(callbacks)
        checkpoint = RunCheckpoint(checkpoint_dir, every_seconds=checkpoint_every, resume=resume,
                                   estimator=type(self).__name__, params=self.get_params(),
                                   data_fingerprint=data.fingerprint() if checkpoint_dir else "")
        with running_engine(self.engine) as engine:
            train, valid = self._holdout(data)
            if self.cache:
                train, valid = train.cache(), valid.cache() if valid is not None else None
            shards = shards_for(train, engine)
            preparer, design, loss = self._first_pass(train, shards, engine)
            solver = self.solver_ = self._solver(train)
            events.on_fit_start({"estimator": type(self).__name__, "solver": solver,
                                 "rows": self.n_rows_seen_, "max_iter": self.max_iter})
            valid_shards = shards_for(valid, engine) if valid is not None else None
            if solver == "lbfgs":
                coef, intercept = self._fit_lbfgs(shards, valid_shards, engine, preparer, design,
                                                  loss, events, checkpoint)
            else:
                result = fit_minibatch(self, solver, train, valid_shards, engine, preparer, design,
                                       loss, events, checkpoint)
                coef, intercept = result.coef, result.intercept
                self.n_iter_, self.history_ = result.n_iter, result.history
        self._set_coefficients(coef, intercept, self._design)
        events.on_fit_end({"n_iter": self.n_iter_, **(self.history_[-1] if self.history_ else {})})
        return self

    def partial_fit(self, X: Any, y: Any = None, classes: Any = None,
                    sample_weight: Any = None) -> LinearModel:
        """Take one pass of mini-batch steps over ``X`` (online learning).

        The first call fixes the features, fits the feature transform on its data (kept
        from then on) and, for classifiers, needs ``classes``: every label ``y`` may hold.
        Later calls continue from the current weights and optimizer state. The solver is
        the mini-batch one named by ``solver`` (``"auto"`` and ``"lbfgs"`` mean ``"sgd"``).
        """
        data = as_dataset(X, y, sample_weight, memory_limit=self.memory_limit,
                          classification=self._classifier)
        if not hasattr(self, "_coef_full"):
            self._start_online(data, classes)
        else:
            if (data.numeric_features, data.categorical_features) != (
                    list(self.transformer_.feature_names_in_),
                    list(self.transformer_.categorical_features_in_)):
                self._predict_data(X)  # raises, naming the missing or extra features
            if not hasattr(self, "_online"):  # continue a model that fit() trained
                self._online = self._online_state(self.transformer_, getattr(self, "classes_", None),
                                                  None, self._design)
        optimizer, preparer, design, loss = self._online
        task = RoundTask(self._coef_full, self._intercept_full, optimizer, preparer, design, loss,
                         self.batch_size or DEFAULT_BATCH, self.random_state or 0,
                         len(self.history_))
        coef, intercept = self._coef_full.copy(), self._intercept_full.copy()
        started = time.perf_counter()
        rows, loss_sum, weight_sum = take_steps(
            data.batches(transform=preparer), task, coef, intercept, optimizer,
            np.random.default_rng([task.seed, task.epoch]))
        seconds = time.perf_counter() - started
        self.history_.append({"epoch": len(self.history_) + 1,
                              "train_loss": loss_sum / max(weight_sum, 1e-300), "seconds": seconds,
                              "rows_per_second": rows / max(seconds, 1e-9)})
        self.n_iter_ = 1
        self.n_rows_seen_ += rows
        self._set_coefficients(coef, intercept, design)
        return self

    def _start_online(self, data: Dataset, classes: Any) -> None:
        validate_params(type(self).__name__, self.get_params(), self._constraints())
        self._reset()
        target = TargetSummary(self._classifier)
        if self._classifier:
            if classes is None:
                raise InvalidParameterError(
                    "classes must be passed on the first call to partial_fit: every label the "
                    "target may hold, e.g. classes=[0, 1].")
            labels = np.unique(np.asarray(classes))
            target.counts = {label: 1 for label in labels.tolist()}
            if isinstance(self.class_weight, str):
                raise InvalidParameterError("class_weight='balanced' needs the class counts of the "
                                            "whole data; use fit, or pass a dict to partial_fit.")
        transformer = FeatureTransformer(
            standardize=self.standardize, impute=self.impute, categorical=self.categorical,
            n_buckets=self.n_buckets, max_categories=self.max_categories,
            seed=self.random_state or 0).fit(data)
        self._adopt(data, transformer, rows=0)
        classes_, class_weight, n_outputs = self._target_setup(target)
        design = LinearDesign(transformer.n_features_in_, transformer.n_codes, n_outputs)
        self._online = self._online_state(transformer, classes_, class_weight, design)
        self.history_ = []
        self.n_iter_ = 0
        coef, intercept = design.zeros()
        self._set_coefficients(coef, intercept, design)

    def _online_state(self, transformer: FeatureTransformer, classes: np.ndarray | None,
                      class_weight: np.ndarray | None, design: LinearDesign) -> tuple[Any, ...]:
        """The optimizer and batch preparation that ``partial_fit`` calls share."""
        loss = self._make_loss(design.n_outputs)
        solver = self._solver()
        optimizer = make_optimizer(self, "sgd" if solver == "lbfgs" else solver, loss,
                                   steps_per_epoch=1, transformer=transformer)
        return optimizer, BatchPreparer(transformer, classes, class_weight), design, loss

    def _constraints(self) -> dict[str, list[Any]]:
        return COMMON_CONSTRAINTS

    def _reset(self) -> None:
        for name in [*vars(self)]:
            if name.endswith("_") and not name.startswith("_"):
                delattr(self, name)

    def _solver(self, train: Dataset | None = None) -> str:
        """The solver to use; ``"auto"`` picks from the data's size and the cache.

        L-BFGS needs a pass per iteration, so it is chosen when the decoded training data
        is in memory or fits the in-RAM cache (each pass then runs at memory speed);
        otherwise Adam, which needs few passes over data read from disk.
        """
        if self.solver != "auto":
            return self.solver
        if self._default_solver != "lbfgs" or train is None or train.format == "memory":
            return self._default_solver
        rows = train.num_rows if train.num_rows is not None else train.nbytes // 64
        decoded = rows * (4 * len(train.numeric_features) + 8 * len(train.categorical_features) + 24)
        return "lbfgs" if self.cache and train.budget.cache_fits_in_memory(decoded) else "adam"

    def _holdout(self, data: Dataset) -> tuple[Dataset, Dataset | None]:
        if not self.early_stopping:
            return data, None
        return data.split(validation=self.validation_fraction, seed=self.random_state or 0)

    def _first_pass(self, train: Dataset, shards: list[Any], engine: Engine,
                    ) -> tuple[BatchPreparer, LinearDesign, Loss]:
        transformer = FeatureTransformer(
            standardize=self.standardize, impute=self.impute, categorical=self.categorical,
            n_buckets=self.n_buckets, max_categories=self.max_categories,
            seed=self.random_state or 0)
        plan = FirstPassPlan(transformer.plan(), classification=self._classifier)
        stats, target = engine.map_reduce(first_pass_shard, shards, merge_first_pass, plan)
        if target.rows - target.missing == 0:
            raise DataError("The training data has no row with a target value.")
        transformer.fit_from_stats(stats, train.numeric_features, train.categorical_features)
        self._adopt(train, transformer, rows=target.rows)
        classes, class_weight, n_outputs = self._target_setup(target)
        design = LinearDesign(transformer.n_features_in_, transformer.n_codes, n_outputs)
        self._design = design
        if not self.standardize:
            return BatchPreparer(transformer, classes, class_weight), design, self._make_loss(n_outputs)
        # Training passes fold the scaling into the coefficients instead of scaling each batch,
        # and skip the search for missing values when the first pass counted none.
        folded = StandardizedDesign(design, transformer.mean_, transformer.scale_)
        return (BatchPreparer(transformer, classes, class_weight, scale=False,
                              complete=not transformer.has_missing_), folded,
                self._make_loss(n_outputs))

    def _adopt(self, train: Dataset, transformer: FeatureTransformer, *, rows: int) -> None:
        """Record the fitted transform and the columns the model reads."""
        self.transformer_ = transformer
        self.n_features_in_ = len(train.numeric_features) + len(train.categorical_features)
        self.feature_names_in_ = np.array([*train.numeric_features, *train.categorical_features],
                                          dtype=object)
        self.n_rows_seen_ = rows
        self.input_columns_ = {"numeric": list(train.layout.numeric),
                               "datetime": list(train.layout.datetime),
                               "categorical": list(train.layout.categorical),
                               "target": [train.target], "weight": [train.weight] if train.weight else []}

    def _target_setup(self, target: TargetSummary) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        """Return (classes, class weights, number of score columns) from the target summary."""
        raise NotImplementedError

    def _make_loss(self, n_outputs: int) -> Loss:
        raise NotImplementedError

    def _fit_lbfgs(self, shards: list[Any], valid_shards: list[Any] | None, engine: Engine,
                   preparer: BatchPreparer, design: LinearDesign, loss: Loss,
                   events: CallbackList, checkpoint: RunCheckpoint) -> tuple[np.ndarray, np.ndarray]:
        objective = Objective(shards, design, loss, alpha=self.alpha, l1_ratio=self.l1_ratio,
                              prepare=preparer, engine=engine if engine.workers > 1 else None,
                              batch_size=self.batch_size)
        started = time.perf_counter()
        saved = checkpoint.state if checkpoint.state and checkpoint.state["solver"] == "lbfgs" else None
        history: list[dict[str, Any]] = list(saved["history"]) if saved else []

        def on_iteration(state: OptimizerState) -> None:
            seconds = time.perf_counter() - started
            logs = {"epoch": state.n_iter, "train_loss": float(state.f + objective.penalty(state.x)),
                    "seconds": seconds,
                    "rows_per_second": self.n_rows_seen_ * objective.n_evaluations / max(seconds, 1e-9)}
            history.append(logs)
            if checkpoint.due:
                checkpoint.save({"solver": "lbfgs", "optimizer": state.to_dict(), "history": history})
            events.on_epoch_end(state.n_iter, logs)

        result = minimize(objective, np.zeros(design.n_params), l1=objective.l1,
                          l1_mask=objective.l1_mask, max_iter=self.max_iter, tol=self.tol,
                          callback=on_iteration,
                          state=OptimizerState.from_dict(saved["optimizer"]) if saved else None)
        coef, intercept = design.unpack(result.x)
        if valid_shards is not None and history:
            history[-1]["validation_loss"] = mean_loss(valid_shards, engine, preparer, design, loss,
                                                       coef, intercept)
        self.n_iter_ = result.n_iter
        self.history_ = history
        self.converged_ = result.converged
        return coef, intercept

    def _set_coefficients(self, coef: np.ndarray, intercept: np.ndarray, design: LinearDesign) -> None:
        self._design = design
        self._coef_full = coef
        self.coef_ = coef.T.copy() if coef.shape[1] > 1 else coef[:, 0].reshape(1, -1).copy()
        self.intercept_ = intercept.copy()
        if not self._classifier:
            self.coef_ = self.coef_[0]
            self.intercept_ = float(intercept[0])

    # -- predicting ------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "_coef_full"):
            raise not_fitted(self)

    def _scorer(self) -> Scorer:
        self._check_fitted()
        return Scorer(BatchPreparer(self.transformer_, getattr(self, "classes_", None)),
                      self._design, self._coef_full, self._intercept_full)

    def _score_batches(self, X: Any) -> Iterator[np.ndarray]:
        """Yield the score matrix of each batch of ``X`` (in order)."""
        scorer = self._scorer()
        produced = False
        for batch in self._predict_data(X).batches():
            produced = True
            yield scorer.scores(batch)
        if not produced:
            yield np.zeros((0, self._design.n_outputs))

    def _batch_predictions(self, batch: Batch) -> dict[str, np.ndarray]:
        """The passthrough columns, then ``prediction`` and, for classifiers, one ``proba_<class>``
        column per class, of one batch of :meth:`_prediction_view`."""
        columns = dict(batch.extra or {})
        columns.update(self._prediction_columns(self._scorer().scores(batch)))
        return columns

    def _prediction_columns(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    @property
    def target_column_(self) -> str | None:
        """Name of the target column the model was fitted on."""
        self._check_fitted()
        return self.input_columns_["target"][0]

    def evaluate(self, X: Any, y: Any = None, sample_weight: Any = None, *,
                 engine: Any = None) -> dict[str, Any]:
        """Return metrics on labelled data, computed in one streaming map-reduce pass.

        Classifiers report accuracy, log loss, ROC AUC and the confusion matrix;
        regressors R², RMSE and MAE.
        """
        scorer = self._scorer()
        data = as_dataset(X, y, sample_weight, memory_limit=self.memory_limit)
        features = self._predict_data(data)
        view = features.select(self._feature_columns(), categorical=self.input_columns_["categorical"],
                               target=data.target, weight=data.weight)
        task = EvaluationTask(scorer, self._make_loss(self._design.n_outputs))
        with running_engine(engine if engine is not None else self.engine) as runner:
            total = runner.map_reduce(evaluate_shard, shards_for(view, runner), _merge_metrics,
                                      task)
        result = total.result()
        if "classes" in result:
            result["classes"] = _plain_list(self.classes_)
        return result

    @property
    def _intercept_full(self) -> np.ndarray:
        return np.atleast_1d(np.asarray(self.intercept_, dtype=np.float64))

    def to_onnx(self, *, opset: int | None = None) -> onnx.ModelProto:
        """Return the fitted model as an ONNX model (needs ``pip install 'bigfit[onnx]'``).

        The graph takes one input ``X``: float32 of shape (N, n_numeric), the columns of
        ``input_columns_["numeric"]`` in that order, NaN for missing. It imputes and
        standardises them as bigfit does and outputs ``label`` and ``probabilities``
        (classifiers) or ``variable`` of shape (N, 1) (regressors). Numeric features only,
        for now: a model that reads categorical or datetime columns is refused.

        Parameters
        ----------
        opset : int, optional
            Opset of the default ONNX domain, from 13; 17 when not given.

        Returns
        -------
        onnx.ModelProto
            Checked with ``onnx.checker``; write it with ``onnx.save_model(proto, path)``.

        Raises
        ------
        MissingDependencyError
            onnx is not installed.
        InvalidParameterError
            The model reads categorical or datetime columns, or has ``loss="hinge"``.
        """
        from bigfit.models.linear._onnx import to_onnx

        return to_onnx(self, opset=opset)

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k not in ("engine",)}
        state: dict[str, Any] = {
            "coef": self._coef_full, "intercept": self._intercept_full,
            "design": [self._design.n_numeric, self._design.n_codes, self._design.n_outputs],
            "n_iter": int(self.n_iter_), "n_rows_seen": int(self.n_rows_seen_),
            **self._input_state(),
        }
        if self._classifier:
            state["classes"] = _plain_list(self.classes_)
        metrics = self.history_[-1] if self.history_ else {}
        return params, state, {k: v for k, v in metrics.items() if isinstance(v, int | float)}

    @classmethod
    def _from_model_state(cls, params: dict[str, Any], state: dict[str, Any]) -> LinearModel:
        model = cls(**params)
        design = LinearDesign(*[int(v) for v in state["design"]])
        model._restore_inputs(state)
        model.n_iter_, model.n_rows_seen_ = state["n_iter"], state["n_rows_seen"]
        model.history_ = []
        if cls._classifier:
            model.classes_ = np.array(state["classes"])
        model._set_coefficients(np.asarray(state["coef"]), np.asarray(state["intercept"]), design)
        return model


@dataclass(frozen=True)
class Scorer:
    """Raw batches to scores: the fitted transform and coefficients (picklable)."""

    preparer: BatchPreparer
    design: LinearDesign
    coef: np.ndarray
    intercept: np.ndarray

    def scores(self, batch: Batch) -> np.ndarray:
        """Return the (n, n_outputs) scores of a raw batch."""
        ready = self.preparer(batch, with_target=False)
        return self.design.scores(self.coef, self.intercept, ready.X, ready.codes)


@dataclass(frozen=True)
class EvaluationTask:
    """What each shard needs to compute its metrics: the scorer and the loss's link."""

    scorer: Scorer
    loss: Loss


def evaluate_shard(shard: Any, task: EvaluationTask) -> Any:
    """Engine task: classification or regression metrics of one shard's labelled rows."""
    from bigfit.models.metrics import ClassificationMetrics, RegressionMetrics

    classes = task.scorer.preparer.classes
    metrics = RegressionMetrics() if classes is None else ClassificationMetrics(len(classes))
    for batch in shard.batches():
        ready = task.scorer.preparer(batch)
        scores = task.scorer.design.scores(task.scorer.coef, task.scorer.intercept, ready.X,
                                           ready.codes)
        if classes is None:
            metrics.update(ready.y, scores[:, 0], ready.w)
        else:
            metrics.update(ready.y, task.loss.predict_proba(
                scores if scores.shape[1] > 1 else scores[:, 0]), ready.w)
    return metrics


def _merge_metrics(a: Any, b: Any) -> Any:
    return a.merge(b)


def store_params(estimator: Any, arguments: dict[str, Any]) -> None:
    """Store an ``__init__``'s keyword arguments untouched, as scikit-learn expects."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def mean_loss(shards: Sequence[Any], engine: Engine, preparer: BatchPreparer, design: LinearDesign,
              loss: Loss, coef: np.ndarray, intercept: np.ndarray) -> float:
    """Weighted mean loss (no penalty) over ``shards``: one pass, on ``engine``.

    ``shards`` may hold rows the first pass did not count (a validation side), so they are
    searched for missing values whatever the training rows held.
    """
    objective = Objective(shards, design, loss, alpha=0.0,
                          prepare=replace(preparer, complete=False),
                          engine=engine if engine.workers > 1 else None)
    total = objective.sums(coef, intercept, with_gradient=False)
    return total.loss_sum / total.weight_sum


def _plain_list(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]
