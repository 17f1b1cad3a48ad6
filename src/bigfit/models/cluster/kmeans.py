"""KMeans: k-means clustering out of core, by Lloyd's iterations or mini-batches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin

from bigfit._params import InstanceOf, Interval, Options, validate_params
from bigfit.data.batch import Batch
from bigfit.data.dataset import Dataset
from bigfit.data.transforms import FeatureTransformer
from bigfit.engine.base import Engine
from bigfit.exceptions import DataError
from bigfit.models._engine import running_engine, shards_for
from bigfit.models._fitted import FittedOnData, not_fitted
from bigfit.models._inputs import as_dataset
from bigfit.models.callbacks import Callback, CallbackList
from bigfit.models.cluster._checks import check_training_stats
from bigfit.models.cluster._first_pass import positive_rows, run_first_pass, sample_from_batches
from bigfit.models.cluster._geometry import Centers
from bigfit.models.cluster._init import clustered_sample, from_sample, kmeans_parallel
from bigfit.models.cluster._lloyd import LloydResult, assignment_pass, run_lloyd
from bigfit.models.cluster._minibatch import MiniBatchState, StepPlan, take_steps
from bigfit.models.cluster._sampling import stream_seed
from bigfit.models.cluster._space import FeatureSpace
from bigfit.models.registry import register_estimator

CONSTRAINTS: dict[str, list[Any]] = {
    "n_clusters": [Interval(int, 1, None)],
    "init": [Options(frozenset({"k-means||", "k-means++", "random"}))],
    "algorithm": [Options(frozenset({"lloyd", "minibatch"}))],
    "n_init": [Options(frozenset({"auto"})), Interval(int, 1, None)],
    "max_iter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0.0, None)],
    "batch_size": [Interval(int, 1, None)],
    "init_size": [None, Interval(int, 1, None)],
    "init_rounds": [Interval(int, 0, None)],
    "oversampling_factor": [Interval(float, 0.0, None, closed="neither")],
    "reassignment_ratio": [Interval(float, 0.0, None)],
    "max_no_improvement": [None, Interval(int, 1, None)],
    "standardize": [InstanceOf(bool)],
    "impute": [Options(frozenset({"mean", "constant", "error"}))],
    "categorical": [Options(frozenset({"hash", "onehot"}))],
    "n_buckets": [Interval(int, 1, None)],
    "max_categories": [Interval(int, 1, None)],
    "random_state": [None, Interval(int, 0, None)],
    "cache": [InstanceOf(bool)],
}
_RUN_PURPOSE = 10  # stream_seed purposes: each initialisation run draws from its own stream
_TRIAL_PURPOSE = 20


@register_estimator("KMeans")
class KMeans(FittedOnData, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means clustering of data larger than memory (scikit-learn's ``KMeans``, out of core).

    Two algorithms share one model. ``algorithm="lloyd"``: exact Lloyd iterations, each one
    pass over the data that sums the rows of every cluster (a ``map_reduce`` on the engine),
    from centres chosen by k-means|| (a few passes, Bahmani et al. 2012), k-means++ or at
    random. ``algorithm="minibatch"``: Sculley's mini-batch k-means, streaming the data
    once or a few times with a per-centre learning rate, also online through
    :meth:`partial_fit`.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means||", "k-means++", "random"}, default="k-means||"
        ``"k-means||"``: ``init_rounds`` passes that oversample ``oversampling_factor * k``
        rows each, weighted by a counting pass and reduced to k centres by weighted
        k-means++ on the driver (for ``algorithm="minibatch"``, whose point is to read the
        data few times, it means the ``init_size`` sample clustered in memory: weighted
        k-means++ and Lloyd, the best of 10 starts). ``"k-means++"`` and
        ``"random"``: chosen from a uniform sample of ``init_size`` rows.
    algorithm : {"lloyd", "minibatch"}, default="lloyd"
    n_init : "auto" or int, default="auto"
        Lloyd: independent runs (initialisation and iterations), the lowest inertia wins.
        Mini-batch: initialisations tried on the sample, the lowest inertia there wins.
        ``"auto"`` is 1, or 10 (Lloyd) and 3 (mini-batch) for ``init="random"``.
    max_iter : int, default=300
        Lloyd iterations, or mini-batch epochs.
    tol : float, default=1e-4
        Lloyd stops when the squared moves of the centres sum to less than ``tol`` times the
        mean variance of the features.
    batch_size : int, default=1024
        Rows per mini-batch step.
    init_size : int, optional
        Rows in the uniform sample that k-means++ and random initialisation choose from;
        ``max(3 * batch_size, 10 * n_clusters)`` when not given.
    init_rounds : int, default=5
        Oversampling passes of k-means||.
    oversampling_factor : float, default=2.0
        k-means|| picks about ``oversampling_factor * n_clusters`` rows per round.
    reassignment_ratio : float, default=0.01
        Mini-batch: a centre whose absorbed weight falls below this share of the largest
        moves to a random row of the current batch (checked every 10 batches).
    max_no_improvement : int or None, default=10
        Mini-batch: stop after this many steps without improving the smoothed batch inertia
        (None: run ``max_iter`` epochs).
    standardize : bool, default=False
        Scale numeric features to unit variance before clustering (distances then weigh
        every feature alike). ``cluster_centers_`` are on the input scale either way.
    impute : {"mean", "constant", "error"}, default="mean"
        How missing numeric values are filled; ``"error"`` refuses them.
    categorical : {"onehot", "hash"}, default="onehot"
        Categorical columns as one-hot indicators of their ``max_categories`` most frequent
        values, or of ``n_buckets`` hash buckets.
    n_buckets : int, default=64
    max_categories : int, default=20
    random_state : int, optional
        Seed of every random choice; None means 0 (fits are reproducible).
    cache : bool, default=True
        Keep decoded batches in bigfit's cache so that later passes read at memory speed.
    engine : str or Engine, optional
        Where the passes run (``"local"``, ``"local[4]"``, ``"ray"``, ...).
    memory_limit : int or str, optional
        Memory budget of the data reads (``"2GB"``).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features_out)
        Centres on the input scale: the numeric columns, then one column per one-hot code
        (the share of the cluster's rows with that category).
    inertia_ : float
        Sum of weighted squared distances of the training rows to their nearest centre
        (in the clustering space: standardised when ``standardize``). After
        :meth:`partial_fit`, that of the rows of the last call, each measured before its step.
    n_iter_ : int
        Lloyd iterations of the best run, or mini-batch epochs.
    n_steps_ : int
        Mini-batch steps taken (0 for Lloyd).
    labels_ : ndarray of shape (n_samples,)
        The cluster of each training row, only when ``fit`` was given data in memory.
    history_ : list of dict
        Per iteration (epoch): inertia, seconds, rows.
    n_features_in_, feature_names_in_, transformer_, input_columns_, n_rows_seen_

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> model = KMeans(n_clusters=2).fit(X)
    >>> sorted(model.cluster_centers_.round(2).tolist())
    [[0.05, 0.0], [5.05, 5.0]]
    >>> bool(model.predict(X[:1])[0] == model.predict(X[1:2])[0])
    True
    """

    def __init__(self, n_clusters: int = 8, *, init: str = "k-means||", algorithm: str = "lloyd",
                 n_init: str | int = "auto", max_iter: int = 300, tol: float = 1e-4,
                 batch_size: int = 1024, init_size: int | None = None, init_rounds: int = 5,
                 oversampling_factor: float = 2.0, reassignment_ratio: float = 0.01,
                 max_no_improvement: int | None = 10, standardize: bool = False, impute: str = "mean",
                 categorical: str = "onehot", n_buckets: int = 64, max_categories: int = 20,
                 random_state: int | None = None, cache: bool = True, engine: Any = None,
                 memory_limit: Any = None) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.algorithm = algorithm
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.init_size = init_size
        self.init_rounds = init_rounds
        self.oversampling_factor = oversampling_factor
        self.reassignment_ratio = reassignment_ratio
        self.max_no_improvement = max_no_improvement
        self.standardize = standardize
        self.impute = impute
        self.categorical = categorical
        self.n_buckets = n_buckets
        self.max_categories = max_categories
        self.random_state = random_state
        self.cache = cache
        self.engine = engine
        self.memory_limit = memory_limit

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, *,
            callbacks: Sequence[Callback] | None = None) -> KMeans:
        """Cluster a :class:`~bigfit.Dataset` (streamed) or arrays / DataFrames in memory.

        Parameters
        ----------
        X : Dataset, array-like of shape (n_samples, n_features) or DataFrame
            A Dataset's target column, if any, is not a feature; its weight column weighs rows.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows of ``X`` in memory.
        callbacks : sequence of Callback, optional
            Receive an event per Lloyd iteration or mini-batch epoch. A callback with an
            ``on_step_end(step, centers)`` method also hears of every mini-batch step:
            ``centers()`` returns the current ``cluster_centers_`` (for checkpoints).

        Returns
        -------
        self
        """
        validate_params(type(self).__name__, self.get_params(), CONSTRAINTS)
        data = as_dataset(X, None, sample_weight, memory_limit=self.memory_limit, need_target=False)
        self._reset()
        events = CallbackList(callbacks)
        seed = self.random_state or 0
        with running_engine(self.engine) as engine:
            train = data.cache() if self.cache else data
            shards = shards_for(train, engine)
            space, sample = self._first_pass(train, shards, engine, seed)
            events.on_fit_start({"estimator": type(self).__name__, "solver": self.algorithm,
                                 "rows": self.n_rows_seen_, "max_iter": self.max_iter})
            if self.algorithm == "lloyd":
                result = self._fit_lloyd(shards, engine, space, sample, seed, events)
                state = MiniBatchState.start(result.centers)
                state.counts = result.counts
                self.n_iter_, self.n_steps_, self.history_ = result.n_iter, 0, result.history
                self.inertia_ = result.inertia
            else:
                state = self._fit_minibatch(train, space, sample, seed, events, callbacks or ())
                final = assignment_pass(shards, engine, space, state.centers())
                self.inertia_ = final.inertia
        self._set_state(space, state)
        events.on_fit_end({"n_iter": self.n_iter_, "inertia": self.inertia_})
        if not isinstance(X, Dataset):
            self.labels_ = self.predict(X)
        return self

    def _first_pass(self, train: Dataset, shards: list[Any], engine: Engine,
                    seed: int) -> tuple[FeatureSpace, Batch]:
        """Fit the transform and draw the initialisation sample, in one pass."""
        transformer = self._new_transformer(seed)
        parallel_init = self.algorithm == "lloyd" and self.init == "k-means||"
        size = self._n_init() if parallel_init else max(self._n_init(), self._init_size())
        stats, sample = run_first_pass(shards, engine, transformer.plan(), size, seed)
        check_training_stats(stats, train.numeric_features, len(train.categorical_features),
                             self.n_clusters)
        transformer.fit_from_stats(stats, train.numeric_features, train.categorical_features)
        space = FeatureSpace(transformer, self.standardize)
        self._adopt(train, transformer, rows=stats.n_rows)
        rows = positive_rows(sample) if sample is not None else None
        if rows is None or not len(rows):
            raise DataError("Every row of the data has a weight of 0; nothing to cluster.")
        return space, space.prepare(rows)

    def _fit_lloyd(self, shards: list[Any], engine: Engine, space: FeatureSpace, sample: Batch,
                   seed: int, events: CallbackList) -> LloydResult:
        best: LloydResult | None = None
        for run in range(self._n_init()):
            run_seed = stream_seed(seed, _RUN_PURPOSE, run)
            if self.init == "k-means||":
                first = sample.take(np.array([run % len(sample)]))
                centers = kmeans_parallel(shards, engine, space, first, self.n_clusters,
                                          rounds=self.init_rounds,
                                          oversampling_factor=self.oversampling_factor, seed=run_seed)
            else:
                centers = from_sample(sample, space, self.n_clusters, self.init, run_seed)
            result = run_lloyd(shards, engine, space, centers, max_iter=self.max_iter, tol=self.tol,
                               on_iteration=events.on_epoch_end)
            if best is None or result.inertia < best.inertia:
                best = result
        assert best is not None
        return best

    def _fit_minibatch(self, train: Dataset, space: FeatureSpace, sample: Batch, seed: int,
                       events: CallbackList, callbacks: Sequence[Callback]) -> MiniBatchState:
        state = MiniBatchState.start(self._sample_init(space, sample, seed))
        after_step = _step_hook(callbacks, space, state)
        plan = self._step_plan(self.n_rows_seen_)
        self.n_iter_, self.n_steps_, self.history_ = 0, 0, []
        for epoch in range(self.max_iter):
            started = time.perf_counter()
            batches = train.batches(shuffle=True, seed=seed, epoch=epoch)
            try:
                rows, inertia, weight, go_on = take_steps(
                    state, (space.prepare(batch) for batch in batches), plan,
                    np.random.default_rng([seed, epoch]), after_step)
            finally:
                batches.close()  # type: ignore[attr-defined]  # stops the read-ahead thread
            seconds = time.perf_counter() - started
            logs = {"epoch": epoch + 1, "inertia": inertia, "mean_inertia": inertia / max(weight, 1e-300),
                    "seconds": seconds, "rows": rows, "rows_per_second": rows / max(seconds, 1e-9)}
            self.history_.append(logs)
            self.n_iter_ = epoch + 1
            events.on_epoch_end(epoch + 1, logs)
            if not go_on:
                break
        self.n_steps_ = state.steps
        return state

    def _sample_init(self, space: FeatureSpace, sample: Batch, seed: int) -> Centers:
        """The sample clustered in memory (k-means||), or the best of ``n_init`` draws from it."""
        if self.init == "k-means||":
            return clustered_sample(sample, space, self.n_clusters, stream_seed(seed, _TRIAL_PURPOSE, 0))
        method = "random" if self.init == "random" else "k-means++"
        best, best_inertia = None, np.inf
        for trial in range(self._n_init()):
            centers = from_sample(sample, space, self.n_clusters, method,
                                  stream_seed(seed, _TRIAL_PURPOSE, trial))
            _, d2 = centers.nearest(sample.X, sample.codes)
            inertia = float(d2 @ (np.ones(len(d2)) if sample.w is None else sample.w))
            if inertia < best_inertia:
                best, best_inertia = centers, inertia
        assert best is not None
        return best

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Take mini-batch steps over ``X`` (online learning); return self.

        The first call fixes the features, fits the feature transform on ``X`` (kept from
        then on) and draws the initial centres from ``X``, so it needs at least
        ``n_clusters`` rows. Later calls continue from the current centres and their
        absorbed weights (also after :meth:`fit`).
        """
        data = as_dataset(X, None, sample_weight, memory_limit=self.memory_limit, need_target=False)
        if not hasattr(self, "_minibatch"):
            self._start_online(data)
        else:
            self._predict_data(X)  # raises when the features differ
        space, state = self._space, self._minibatch
        plan = self._step_plan(None)
        rows, inertia, _, _ = take_steps(
            state, (space.prepare(batch) for batch in data.batches()), plan,
            np.random.default_rng([self.random_state or 0, state.steps]))
        self.n_rows_seen_ += rows
        self.n_steps_ = state.steps
        self.inertia_ = inertia
        self._set_state(space, state)
        return self

    def _start_online(self, data: Dataset) -> None:
        validate_params(type(self).__name__, self.get_params(), CONSTRAINTS)
        self._reset()
        seed = self.random_state or 0
        transformer = self._new_transformer(seed).fit(data)
        space = FeatureSpace(transformer, self.standardize)
        sample = sample_from_batches(data.batches(), max(self._n_init(), self._init_size()), seed)
        rows = positive_rows(sample) if sample is not None else None
        if rows is None or len(rows) < self.n_clusters:
            got = 0 if rows is None else len(rows)
            raise DataError(f"n_samples={got} should be >= n_clusters={self.n_clusters}: the first call "
                            "to partial_fit draws the initial centres from its rows; pass more rows.")
        self._adopt(data, transformer, rows=0)
        self.n_iter_, self.n_steps_, self.history_ = 0, 0, []
        self._set_state(space, MiniBatchState.start(self._sample_init(space, space.prepare(rows), seed)))

    def _step_plan(self, n_rows: int | None) -> StepPlan:
        smoothing = 1.0 if not n_rows else min(1.0, 2.0 * self.batch_size / (n_rows + 1))
        # Online, the data's size is unknown: no early stopping, every row is used.
        return StepPlan(self.batch_size, self.reassignment_ratio, smoothing,
                        self.max_no_improvement if n_rows else None)

    def _n_init(self) -> int:
        if self.n_init != "auto":
            return int(self.n_init)
        if self.init != "random":
            return 1
        return 10 if self.algorithm == "lloyd" else 3

    def _init_size(self) -> int:
        if self.init_size is not None:
            return max(int(self.init_size), self.n_clusters)
        return max(3 * self.batch_size, 10 * self.n_clusters)

    def _new_transformer(self, seed: int) -> FeatureTransformer:
        return FeatureTransformer(standardize=self.standardize, impute=self.impute,
                                  categorical=self.categorical, n_buckets=self.n_buckets,
                                  max_categories=self.max_categories, seed=seed)

    def _reset(self) -> None:
        for name in [*vars(self)]:
            if (name.endswith("_") and not name.startswith("_")) or name in ("_space", "_minibatch"):
                delattr(self, name)

    def _adopt(self, data: Dataset, transformer: FeatureTransformer, *, rows: int) -> None:
        """Record the fitted transform and the columns the model reads."""
        self.transformer_ = transformer
        features = [*data.numeric_features, *data.categorical_features]
        self.n_features_in_ = len(features)
        self.feature_names_in_ = np.array(features, dtype=object)
        self.n_rows_seen_ = rows
        self.input_columns_ = {"numeric": list(data.layout.numeric), "datetime": list(data.layout.datetime),
                               "categorical": list(data.layout.categorical)}

    def _set_state(self, space: FeatureSpace, state: MiniBatchState) -> None:
        self._space, self._minibatch = space, state
        self.cluster_centers_ = np.hstack([space.to_input_units(state.numeric), state.codes])

    @property
    def _n_features_out(self) -> int:
        return int(self.n_clusters)

    # -- predicting ------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "_minibatch"):
            raise not_fitted(self)

    def _nearest_batches(self, X: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the labels and squared distances of each batch of ``X``, in order."""
        centers = self._minibatch.centers()
        for batch in self._predict_data(X).batches():
            rows = self._space.prepare(batch)
            yield centers.nearest(rows.X, rows.codes)

    def predict(self, X: Any) -> np.ndarray:
        """Return the index of the nearest centre of each row of ``X`` (int32)."""
        self._check_fitted()
        labels = [labels for labels, _ in self._nearest_batches(X)]
        return np.concatenate(labels).astype(np.int32) if labels else np.zeros(0, dtype=np.int32)

    def transform(self, X: Any) -> np.ndarray:
        """Return the Euclidean distance of each row of ``X`` to every centre, (n, n_clusters).

        Distances are measured in the clustering space (standardised when ``standardize``).
        """
        self._check_fitted()
        centers = self._minibatch.centers()
        parts = [np.sqrt(centers.squared_distances(rows.X, rows.codes))
                 for rows in map(self._space.prepare, self._predict_data(X).batches())]
        return np.vstack(parts) if parts else np.zeros((0, self.n_clusters))

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Return minus the inertia of ``X`` (larger is better, as scikit-learn's ``KMeans``)."""
        view = self._predict_data(X)  # checks the features
        if sample_weight is not None:
            weighted = as_dataset(X, None, sample_weight, memory_limit=self.memory_limit,
                                  need_target=False)
            view = self._predict_data(weighted)
        total = assignment_pass(view.shards(), _here(), self._space, self._minibatch.centers())
        return -total.inertia

    def _batch_predictions(self, batch: Batch) -> dict[str, np.ndarray]:
        """The passthrough and cluster columns of one batch of :meth:`_prediction_view`."""
        self._check_fitted()
        columns = dict(batch.extra or {})
        rows = self._space.prepare(batch)
        labels, d2 = self._minibatch.centers().nearest(rows.X, rows.codes)
        columns["cluster"] = labels.astype(np.int32)
        columns["distance"] = np.sqrt(d2)
        return columns

    # -- model files -----------------------------------------------------------------------

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k != "engine"}
        state = self._minibatch
        model_state = {
            "numeric": state.numeric, "codes": state.codes, "counts": state.counts,
            "n_categorical": state.n_categorical, "steps": state.steps,
            **self._input_state(), "n_iter": int(self.n_iter_),
            "n_rows_seen": int(self.n_rows_seen_), "inertia": float(self.inertia_),
        }
        return params, model_state, {"inertia": float(self.inertia_)}

    @classmethod
    def _from_model_state(cls, params: dict[str, Any], state: dict[str, Any]) -> KMeans:
        model = cls(**params)
        model._restore_inputs(state)
        transformer = model.transformer_
        model.n_iter_, model.n_rows_seen_ = int(state["n_iter"]), int(state["n_rows_seen"])
        model.inertia_, model.history_ = float(state["inertia"]), []
        minibatch = MiniBatchState(np.array(state["numeric"], dtype=np.float64),
                                   np.array(state["codes"], dtype=np.float64),
                                   np.array(state["counts"], dtype=np.float64),
                                   int(state["n_categorical"]), steps=int(state["steps"]))
        model.n_steps_ = minibatch.steps
        model._set_state(FeatureSpace(transformer, bool(params["standardize"])), minibatch)
        return model


def _step_hook(callbacks: Sequence[Callback], space: FeatureSpace,
               state: MiniBatchState) -> Callable[[], None] | None:
    """Call ``on_step_end(step, centers)`` of the callbacks that have it, or None if none has."""
    hooks = [hook for hook in (getattr(cb, "on_step_end", None) for cb in callbacks) if callable(hook)]
    if not hooks:
        return None

    def centers() -> np.ndarray:
        return np.hstack([space.to_input_units(state.numeric), state.codes])

    def after_step() -> None:
        for hook in hooks:
            hook(state.steps, centers)

    return after_step


def _here() -> Engine:
    from bigfit.engine import get_engine

    return get_engine(None)
