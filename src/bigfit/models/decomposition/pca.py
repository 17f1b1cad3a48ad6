"""PCA: principal component analysis of data larger than memory, exact or randomized."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from bigfit._params import InstanceOf, Interval, Options, validate_params
from bigfit.data.batch import Batch
from bigfit.data.dataset import Dataset
from bigfit.models._engine import running_engine
from bigfit.models._fitted import FittedOnData, not_fitted
from bigfit.models._inputs import as_dataset
from bigfit.models.decomposition._fit import Fitted, fit_passes, model_scale
from bigfit.models.decomposition._projection import Projection, whitening_spread
from bigfit.models.decomposition._solution import Solution
from bigfit.models.decomposition._space import FeatureSpace
from bigfit.models.registry import register_estimator

CONSTRAINTS: dict[str, list[Any]] = {
    "n_components": [None, Interval(int, 1, None), Interval(float, 0.0, 1.0, closed="neither")],
    "solver": [Options(frozenset({"auto", "covariance", "randomized"}))],
    "whiten": [InstanceOf(bool)],
    "iterated_power": [Options(frozenset({"auto"})), Interval(int, 0, None)],
    "n_oversamples": [Interval(int, 1, None)],
    "standardize": [InstanceOf(bool)],
    "impute": [Options(frozenset({"mean", "constant", "error"}))],
    "categorical": [Options(frozenset({"hash", "onehot"}))],
    "n_buckets": [Interval(int, 1, None)],
    "max_categories": [Interval(int, 1, None)],
    "batch_size": [None, Interval(int, 1, None)],
    "random_state": [None, Interval(int, 0, None)],
    "cache": [InstanceOf(bool)],
}


@register_estimator("PCA")
class PCA(FittedOnData, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Principal component analysis of data larger than memory (scikit-learn's ``PCA``, out of core).

    Two solvers share one model. ``solver="covariance"``: exact, from the mean and the
    float64 scatter matrix of the rows, gathered in one pass (a ``map_reduce`` whose
    partial results merge with Chan et al.'s pairwise formula) and eigendecomposed on the
    driver; for up to a few thousand features. ``solver="randomized"``: Halko, Martinsson
    and Tropp's randomized SVD for wide data, ``2 + iterated_power`` passes with a
    distributed tall-skinny QR, never holding more than a batch of rows.

    Parameters
    ----------
    n_components : int, float or None, default=None
        Components to keep; None keeps ``min(n_samples, n_features)``; a float in (0, 1)
        keeps the fewest components that explain that share of the variance (covariance
        solver only).
    solver : {"auto", "covariance", "randomized"}, default="auto"
        ``"auto"``: covariance up to 1000 features (one-hot columns included), else randomized.
    whiten : bool, default=False
        Divide the scores by the standard deviation along each component (unit variance).
    iterated_power : int or "auto", default="auto"
        Power iterations of the randomized solver, one pass each; ``"auto"`` is 2.
    n_oversamples : int, default=10
        Extra random directions the randomized solver tracks beyond ``n_components``.
    standardize : bool, default=False
        Scale numeric features to unit variance before the analysis (PCA of the
        correlation matrix); by default they are only centred, as scikit-learn does.
        ``components_`` are then in standardised units; ``mean_`` and
        :meth:`inverse_transform` stay in input units.
    impute : {"mean", "constant", "error"}, default="mean"
        How missing numeric values are filled; ``"error"`` refuses them.
    categorical : {"onehot", "hash"}, default="onehot"
        Categorical columns as one-hot indicators of their ``max_categories`` most frequent
        values (plus "other" and "missing"), or of ``n_buckets`` hash buckets.
    n_buckets : int, default=64
    max_categories : int, default=20
    batch_size : int, optional
        Rows per batch of the passes (default from the memory budget).
    random_state : int, optional
        Seed of the randomized solver's test matrix; None means 0 (fits are reproducible).
    cache : bool, default=True
        Keep decoded batches in bigfit's cache when the fit reads the data more than once.
    engine : str or Engine, optional
        Where the passes run (``"local"``, ``"local[4]"``, ``"ray"``, ...).
    memory_limit : int or str, optional
        Memory budget of the data reads (``"2GB"``).

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features_out)
        Principal axes, by decreasing explained variance: over the numeric columns (in
        standardised units when ``standardize``), then one column per one-hot code. Each
        axis is signed so that its largest absolute entry is positive.
    explained_variance_ : ndarray of shape (n_components_,)
        Variance along each axis (divided by ``n_samples - 1``).
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Share of the total variance along each axis.
    singular_values_ : ndarray of shape (n_components_,)
        Singular values of the centred (scaled) data along each axis.
    mean_ : ndarray of shape (n_features_out,)
        Mean of each numeric column after imputation (input units), then the frequency
        of each one-hot code.
    noise_variance_ : float
        Mean variance of the directions left out.
    n_components_ : int
    n_samples_ : int
        Rows the model was fitted on.
    solver_ : str
        The solver used.
    n_passes_ : int
        Passes over the data that the fit read.
    n_features_in_, feature_names_in_, transformer_, input_columns_, n_rows_seen_

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 5.9], [4.0, 8.0]])
    >>> pca = PCA(n_components=1).fit(X)
    >>> pca.explained_variance_ratio_.round(4).tolist()
    [0.9999]
    >>> pca.transform(X).shape
    (4, 1)
    """

    def __init__(self, n_components: int | float | None = None, *, solver: str = "auto",
                 whiten: bool = False, iterated_power: int | str = "auto", n_oversamples: int = 10,
                 standardize: bool = False, impute: str = "mean", categorical: str = "onehot",
                 n_buckets: int = 64, max_categories: int = 20, batch_size: int | None = None,
                 random_state: int | None = None, cache: bool = True, engine: Any = None,
                 memory_limit: Any = None) -> None:
        self.n_components = n_components
        self.solver = solver
        self.whiten = whiten
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.standardize = standardize
        self.impute = impute
        self.categorical = categorical
        self.n_buckets = n_buckets
        self.max_categories = max_categories
        self.batch_size = batch_size
        self.random_state = random_state
        self.cache = cache
        self.engine = engine
        self.memory_limit = memory_limit

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> PCA:
        """Find the principal axes of a :class:`~bigfit.Dataset` (streamed) or of arrays / DataFrames.

        Parameters
        ----------
        X : Dataset, array-like of shape (n_samples, n_features) or DataFrame
            A Dataset's target and weight columns, if any, are not features.
        y : ignored

        Returns
        -------
        self
        """
        validate_params(type(self).__name__, self.get_params(), CONSTRAINTS)
        data = as_dataset(X, memory_limit=self.memory_limit, need_target=False)
        self._reset()
        with running_engine(self.engine) as engine:
            fitted = fit_passes(self, data, engine)
        self._adopt(data, fitted)
        return self

    def _reset(self) -> None:
        for name in [*vars(self)]:
            if (name.endswith("_") and not name.startswith("_")) or name == "_projection":
                delattr(self, name)

    def _adopt(self, data: Dataset, fitted: Fitted) -> None:
        """Record the fitted transform, axes and the columns the model reads."""
        self.transformer_ = fitted.transformer
        features = [*data.numeric_features, *data.categorical_features]
        self.n_features_in_ = len(features)
        self.feature_names_in_ = np.array(features, dtype=object)
        self.input_columns_ = {"numeric": list(data.layout.numeric), "datetime": list(data.layout.datetime),
                               "categorical": list(data.layout.categorical)}
        self.solver_, self.n_passes_ = fitted.solver, fitted.passes
        self.n_rows_seen_ = self.n_samples_ = fitted.n_rows
        self._set_solution(fitted.solution, fitted.mean)

    def _set_solution(self, solution: Solution, mean: np.ndarray) -> None:
        self.components_ = solution.components
        self.explained_variance_ = solution.explained_variance
        self.explained_variance_ratio_ = solution.explained_variance_ratio
        self.singular_values_ = solution.singular_values
        self.noise_variance_ = float(solution.noise_variance)
        self.n_components_ = len(solution.components)
        self.mean_ = mean
        space = FeatureSpace(self.transformer_, shift=mean[: self.transformer_.n_features_in_].copy())
        spread = whitening_spread(self.explained_variance_) if self.whiten else None
        self._projection = Projection.build(space, self.components_, mean, self._scale(), spread)

    def _scale(self) -> np.ndarray:
        return model_scale(self.transformer_, self.standardize)

    @property
    def _n_features_out(self) -> int:
        return int(self.n_components_)

    # -- transforming ----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "_projection"):
            raise not_fitted(self)

    def transform(self, X: Any) -> np.ndarray:
        """Return the scores of each row of ``X`` on the components, shape (n_samples, n_components_).

        The result is in memory; to reduce a dataset too large for that, use
        :meth:`write_transformed`.
        """
        self._check_fitted()
        parts = [self._projection(batch) for batch in self._predict_data(X).batches()]
        return np.vstack(parts) if parts else np.zeros((0, self.n_components_))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Map scores back to the feature space, in input units, shape (n_samples, n_features_out).

        The columns are the numeric features, then one per one-hot code (as ``mean_``).
        """
        from sklearn.utils.validation import check_array

        self._check_fitted()
        scores = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        if scores.shape[1] != self.n_components_:
            from bigfit.exceptions import SchemaError

            raise SchemaError(f"X has {scores.shape[1]} columns, but inverse_transform expects "
                              f"n_components_={self.n_components_} scores per row.")
        if self.whiten:
            scores = scores * whitening_spread(self.explained_variance_)
        return scores @ (self.components_ * self._scale()[None, :]) + self.mean_

    def _batch_predictions(self, batch: Batch) -> dict[str, np.ndarray]:
        """The passthrough and score columns of one batch of :meth:`_prediction_view`."""
        self._check_fitted()
        columns = dict(batch.extra or {})
        scores = self._projection(batch)
        for j, name in enumerate(self.get_feature_names_out()):
            columns[str(name)] = np.ascontiguousarray(scores[:, j])
        return columns

    def write_transformed(self, data: Dataset, out: str, *, passthrough: Sequence[str] = (),
                          engine: Any = None, overwrite: bool = False,
                          storage_options: dict[str, Any] | None = None) -> int:
        """Stream the scores of every row of ``data`` into a new Parquet dataset at ``out``.

        Parameters
        ----------
        data : Dataset
        out : str
            A ``.parquet`` file, or a directory (local path or URL) of part files.
        passthrough : sequence of str
            Columns copied next to the scores (ids).
        engine : str or Engine, optional
            With several workers and a directory ``out``, each worker writes the part files
            of its shards (``out`` must then be storage every worker reaches).
        overwrite : bool, default=False
        storage_options : dict, optional
            Filesystem options of a URL ``out``.

        Returns
        -------
        int
            Rows written; nothing appears at ``out`` unless every row is written.
        """
        from bigfit.models._predict import write_predictions

        self._check_fitted()
        return write_predictions(self, data, out, passthrough=passthrough, engine=engine,
                                 overwrite=overwrite, storage_options=storage_options)

    # -- model files -----------------------------------------------------------------------

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        self._check_fitted()
        params = {k: v for k, v in self.get_params().items() if k != "engine"}
        state = {
            "components": self.components_, "explained_variance": self.explained_variance_,
            "explained_variance_ratio": self.explained_variance_ratio_,
            "singular_values": self.singular_values_, "mean": self.mean_,
            "noise_variance": self.noise_variance_, "n_samples": int(self.n_samples_),
            "solver": self.solver_, "n_passes": int(self.n_passes_),
            **self._input_state(),
        }
        metrics = {"explained_variance_ratio_sum": float(self.explained_variance_ratio_.sum())}
        return params, state, metrics

    @classmethod
    def _from_model_state(cls, params: dict[str, Any], state: dict[str, Any]) -> PCA:
        model = cls(**params)
        model._restore_inputs(state)
        model.solver_, model.n_passes_ = str(state["solver"]), int(state["n_passes"])
        model.n_rows_seen_ = model.n_samples_ = int(state["n_samples"])
        solution = Solution(*(np.asarray(state[name], dtype=np.float64) for name in (
            "components", "singular_values", "explained_variance", "explained_variance_ratio")),
            noise_variance=float(state["noise_variance"]))
        model._set_solution(solution, np.asarray(state["mean"], dtype=np.float64))
        return model
