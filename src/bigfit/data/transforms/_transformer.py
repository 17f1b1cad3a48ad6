"""FeatureTransformer: impute, standardise and encode batches, fitted in one streaming pass."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bigfit._params import InstanceOf, Interval, Options, validate_params
from bigfit.data.batch import Batch
from bigfit.data.transforms._checks import (
    check_layout,
    refuse_infinite,
    refuse_missing,
)
from bigfit.data.transforms._encoders import (
    INT32_LIMIT,
    Encoder,
    HashEncoder,
    VocabularyEncoder,
    encoder_from_state,
)
from bigfit.data.transforms._fit_stats import (
    FitPlan,
    FitStats,
    categorical_hashes,
    collect_shard,
    merge_stats,
)
from bigfit.data.transforms._scaling import ColumnScaler
from bigfit.exceptions import (
    DataError,
    EmptyDatasetError,
    InvalidParameterError,
    NotFittedError,
    SchemaError,
)

if TYPE_CHECKING:
    from bigfit.data.dataset import Dataset
    from bigfit.engine.base import Engine

logger = logging.getLogger("bigfit.data.transforms")

_STATE_VERSION = 1


class FeatureTransformer:
    """Impute and standardise numeric columns, encode categorical ones, batch by batch.

    ``fit`` reads the data once (column moments, and value counts per categorical
    column for one-hot) with bounded memory, on any engine; ``transform`` then maps a
    raw :class:`~bigfit.data.batch.Batch` to the numbers a model reads: ``X`` with
    missing values filled and columns scaled to mean 0 and standard deviation 1, and
    ``codes``, the int32 index of each categorical value in one shared one-hot space of
    :attr:`n_codes` columns.

    Parameters
    ----------
    standardize : bool, default True
        Subtract each column's mean and divide by its standard deviation (a constant
        column is divided by 1, so it becomes 0).
    impute : {"mean", "constant", "error"}, default "mean"
        How missing (NaN) numeric values are filled: with the column mean, with
        ``fill_value``, or not at all (a NaN raises :class:`~bigfit.exceptions.DataError`).
        The median is not offered: it cannot be computed exactly in one bounded pass.
    fill_value : float, default 0.0
        The value for ``impute="constant"``, and for columns with no observed value.
    categorical : {"hash", "onehot"}, default "hash"
        ``"hash"``: the hashing trick, ``n_buckets`` codes per column plus one for
        missing. ``"onehot"``: the ``max_categories`` most frequent values per column,
        plus one code for any other value and one for missing.
    n_buckets : int, default 2**18
        Buckets per categorical column for ``categorical="hash"``.
    max_categories : int, default 100
        Vocabulary size per categorical column for ``categorical="onehot"``.
    seed : int, default 0
        Seed of the bucket hash; another seed gives other collisions.

    Attributes
    ----------
    n_features_in_ : int
        Number of numeric columns.
    feature_names_in_ : list of str
        Names of the numeric columns (``x0, x1, ...`` when the data has none).
    categorical_features_in_ : list of str
        Names of the categorical columns (``c0, c1, ...`` when the data has none).
    mean_, var_, scale_ : ndarray of shape (n_features_in_,), float64
        Column mean and variance (0 for a column with no value) and the divisor used
        by ``standardize`` (the standard deviation, or 1 where it is 0).
    fill_values_ : ndarray of shape (n_features_in_,), float64
        The value that replaces a NaN in each column (NaN for ``impute="error"``).
    encoder_ : HashEncoder or VocabularyEncoder
        The fitted categorical encoder.
    n_samples_seen_ : int
        Rows read by ``fit`` and ``partial_fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from bigfit.data.batch import Batch
    >>> batch = Batch(X=np.array([[1.0], [np.nan], [3.0]], dtype=np.float32),
    ...               hashes=np.array([[7], [7], [0]], dtype=np.uint64))
    >>> ft = FeatureTransformer(categorical="onehot").fit([batch])
    >>> out = ft.transform(batch)
    >>> out.X.ravel().tolist(), out.codes.ravel().tolist(), ft.n_codes
    ([-1.0, 0.0, 1.0], [0, 0, 2], 3)
    >>> ft.feature_names_out
    ['x0', 'c0=#0000000000000007', 'c0=<other>', 'c0=<missing>']
    """

    _parameter_constraints: ClassVar[dict[str, list[Interval | Options | InstanceOf]]] = {
        "standardize": [InstanceOf(bool)],
        "impute": [Options(frozenset({"mean", "constant", "error"}))],
        "fill_value": [Interval(float, None, None)],
        "categorical": [Options(frozenset({"hash", "onehot"}))],
        "n_buckets": [Interval(int, 1, None)],
        "max_categories": [Interval(int, 1, None)],
        "seed": [Interval(int, 0, None)],
    }

    def __init__(self, *, standardize: bool = True, impute: str = "mean",
                 fill_value: float = 0.0, categorical: str = "hash", n_buckets: int = 2**18,
                 max_categories: int = 100, seed: int = 0) -> None:
        self.standardize = standardize
        self.impute = impute
        self.fill_value = fill_value
        self.categorical = categorical
        self.n_buckets = n_buckets
        self.max_categories = max_categories
        self.seed = seed

    # -- hyperparameters -------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the hyperparameters, as given to the constructor."""
        return {name: getattr(self, name) for name in self._parameter_constraints}

    def set_params(self, **params: Any) -> FeatureTransformer:
        """Set hyperparameters (checked by the next ``fit``); return self."""
        unknown = sorted(set(params) - set(self._parameter_constraints))
        if unknown:
            raise InvalidParameterError(
                f"FeatureTransformer has no parameter(s) {unknown}; its parameters are "
                f"{sorted(self._parameter_constraints)}."
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = FeatureTransformer().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"FeatureTransformer({', '.join(changed)})"

    # -- fitting ---------------------------------------------------------------------

    def fit(self, data: Dataset | Batch | Iterable[Batch], engine: Engine | str | None = None,
            *, batch_size: int | None = None) -> FeatureTransformer:
        """Learn the transform from all of ``data`` in one pass; return self.

        Parameters
        ----------
        data : Dataset, Batch or iterable of Batch
            A dataset is read shard by shard through ``engine.map_reduce``; batches in
            memory are read in this process.
        engine : Engine, str or None
            Where the shards are read (see :func:`bigfit.engine.get_engine`); None runs
            in this process.
        batch_size : int, optional
            Rows per batch when reading a dataset's shards.
        """
        self._reset()
        plan = self._plan(batch_size)
        if hasattr(data, "shards"):
            stats = _collect_dataset(data, engine, plan)
            names = (list(data.numeric_features), list(data.categorical_features))
        else:
            stats = FitStats(plan).update_all([data] if isinstance(data, Batch) else data)
            names = None
        if stats.n_rows == 0:
            raise EmptyDatasetError("FeatureTransformer.fit got no rows; the data is empty.")
        self._start(stats, names)
        return self

    def fit_from_stats(self, stats: FitStats, numeric: list[str],
                       categorical: list[str]) -> FeatureTransformer:
        """Finish fitting from statistics gathered elsewhere; return self.

        For callers that collect :class:`FitStats` in a pass of their own (with
        :meth:`plan` and ``collect_shard``), e.g. an estimator that also counts classes.
        """
        self._reset()
        self.plan()
        if stats.n_rows == 0:
            raise EmptyDatasetError("FeatureTransformer.fit got no rows; the data is empty.")
        self._start(stats, (numeric, categorical))
        return self

    def plan(self, batch_size: int | None = None) -> FitPlan:
        """Validate the parameters and return what a pass must collect for :meth:`fit_from_stats`."""
        return self._plan(batch_size)

    def partial_fit(self, batch: Batch) -> FeatureTransformer:
        """Learn from one more batch (the first call fixes the columns); return self."""
        if getattr(self, "_stats", None) is None:
            stats = FitStats(self._plan(None))
            self._refuse_missing_in(batch)
            self._start(stats.update(batch), None)
        else:
            check_layout(batch, self.feature_names_in_, self.categorical_features_in_)
            self._refuse_missing_in(batch)
            self._stats.update(batch)
            self._finish()
        return self

    def _reset(self) -> None:
        for name in [*vars(self)]:
            if name.endswith("_") or name.startswith("_"):
                delattr(self, name)

    def _plan(self, batch_size: int | None) -> FitPlan:
        validate_params(type(self).__name__, self.get_params(), self._parameter_constraints)
        return FitPlan(count_values=self.categorical == "onehot",
                       capacity=max(1024, 8 * self.max_categories), batch_size=batch_size)

    def _start(self, stats: FitStats, names: tuple[list[str], list[str]] | None) -> None:
        """Fix the columns from the first statistics, then finish the fit."""
        n_numeric, n_categorical = stats.n_numeric or 0, stats.n_categorical or 0
        numeric, categorical = names or ([f"x{i}" for i in range(n_numeric)],
                                         [f"c{j}" for j in range(n_categorical)])
        if (len(numeric), len(categorical)) != (n_numeric, n_categorical):
            raise SchemaError(
                f"The dataset names {len(numeric)} numeric and {len(categorical)} categorical "
                f"columns but its batches hold {n_numeric} and {n_categorical}."
            )
        name, per_column = (("n_buckets", self.n_buckets + 1) if self.categorical == "hash"
                            else ("max_categories", self.max_categories + 2))
        if n_categorical * per_column > INT32_LIMIT:
            raise InvalidParameterError(
                f"{name}={getattr(self, name)} with {n_categorical} categorical columns needs "
                f"up to {n_categorical * per_column} codes, more than int32 holds; lower {name}."
            )
        self._stats = stats
        self.n_features_in_ = n_numeric
        self.feature_names_in_ = numeric
        self.categorical_features_in_ = categorical
        self._finish()

    def _finish(self) -> None:
        """Turn the statistics into the transform's parameters."""
        moments = self._stats.moments
        seen = moments.count > 0
        mean, var = moments.mean, moments.var
        if self.standardize or self.impute == "mean":
            refuse_infinite(moments, self.feature_names_in_)
        if self.impute == "error":
            refuse_missing(moments.nulls, self.feature_names_in_, "in the data given to fit")
        self.mean_ = np.where(seen, mean, 0.0)
        self.var_ = np.where(seen, var, 0.0)
        self.scale_ = np.where(self.var_ > 0, np.sqrt(self.var_), 1.0)
        fill = {"mean": np.where(seen, self.mean_, self.fill_value),
                "constant": np.full(len(seen), float(self.fill_value)),
                "error": np.full(len(seen), np.nan)}
        self.fill_values_ = fill[self.impute]
        self.n_samples_seen_ = self._stats.n_rows
        self.has_missing_ = bool(moments.nulls.any())
        self.encoder_ = self._build_encoder()
        self._prepare()

    def _build_encoder(self) -> Encoder:
        n_categorical = len(self.categorical_features_in_)
        if self.categorical == "hash":
            return HashEncoder(n_categorical, int(self.n_buckets), int(self.seed))
        vocabularies, labels = [], []
        for name, top in zip(self.categorical_features_in_, self._stats.values, strict=True):
            if top.approximate:
                logger.info("Categorical column %r has more than %d distinct values; its top "
                            "%d were chosen from approximate counts.", name, top.capacity,
                            self.max_categories)
            hashes = np.sort(top.top(int(self.max_categories))[0])
            vocabularies.append(hashes)
            labels.append([top.label(h) or f"#{int(h):016x}" for h in hashes.tolist()])
        return VocabularyEncoder(vocabularies, labels)

    def _prepare(self) -> None:
        """Build the numeric step that ``transform`` applies."""
        if self.standardize:
            fill = (self.fill_values_ - self.mean_) / self.scale_
            self._scaler = ColumnScaler(self.mean_, self.scale_, fill)
        else:
            self._scaler = ColumnScaler(None, None, self.fill_values_)

    # -- transforming ----------------------------------------------------------------

    def transform(self, batch: Batch, *, copy: bool = False, scale: bool = True,
                  complete: bool = False) -> Batch:
        """Return ``batch`` with ``X`` imputed and standardised and ``codes`` filled.

        ``X`` is changed in place when the batch owns a writable float32 array (the
        input batch must then not be used again); otherwise, or with ``copy=True``, the
        result is a new array.  ``codes`` is None when there are no categorical columns.
        With ``scale=False`` the numeric columns are only imputed (and ``X`` is returned as
        read when it has no missing value): for models that fold ``mean_`` and ``scale_``
        into their coefficients instead of scaling every batch.  ``complete=True`` promises
        that ``X`` holds no missing value (rows of the data this transformer was fitted on,
        when :attr:`has_missing_` is False), so that ``scale=False`` skips the search for one.
        """
        self._check_fitted()
        check_layout(batch, self.feature_names_in_, self.categorical_features_in_)
        if scale:
            X = self._transform_numeric(batch.X, copy)
        else:
            X = batch.X if complete else self._impute_only(batch.X)
        codes = None
        if self.categorical_features_in_:
            codes = self.encoder_.encode(categorical_hashes(batch))
        return batch.replace(X=X, codes=codes)

    def _impute_only(self, X: np.ndarray) -> np.ndarray:
        missing = np.isnan(X)
        if not missing.any():
            return X
        if self.impute == "error":
            refuse_missing(missing.sum(axis=0), self.feature_names_in_, "in this batch")
        return np.where(missing, self.fill_values_.astype(np.float32), X)

    def _transform_numeric(self, X: np.ndarray, copy: bool) -> np.ndarray:
        missing: np.ndarray | None = np.isnan(X)
        if not missing.any():
            missing = None
        elif self.impute == "error":
            refuse_missing(missing.sum(axis=0), self.feature_names_in_, "in this batch")
        in_place = (not copy and X.dtype == np.float32 and X.flags.writeable
                    and X.flags.owndata and X.flags.c_contiguous)
        out = X if in_place else np.empty(X.shape, dtype=np.float32)
        return self._scaler.apply(X, out, missing)

    @property
    def n_codes(self) -> int:
        """Size of the shared one-hot index space of ``codes``."""
        self._check_fitted()
        return self.encoder_.n_codes

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the numeric outputs, then of every code (``city=paris``, ``city#17``)."""
        self._check_fitted()
        return [*self.feature_names_in_, *self.encoder_.names(self.categorical_features_in_)]

    # -- checks ----------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if getattr(self, "encoder_", None) is None:
            raise NotFittedError(
                "This FeatureTransformer is not fitted yet; call fit(data) or "
                "partial_fit(batch) before transform."
            )

    def _refuse_missing_in(self, batch: Batch) -> None:
        if self.impute == "error":
            names = getattr(self, "feature_names_in_", [])
            refuse_missing(np.isnan(batch.X).sum(axis=0), names, "in this batch")

    # -- state -----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Return the fitted transformer as plain data: JSON-able values and numpy arrays."""
        self._check_fitted()
        return {"kind": "FeatureTransformer", "version": _STATE_VERSION,
                "params": self.get_params(), "feature_names_in": list(self.feature_names_in_),
                "categorical_features_in": list(self.categorical_features_in_),
                "n_samples_seen": self.n_samples_seen_, "mean": self.mean_.copy(),
                "var": self.var_.copy(), "scale": self.scale_.copy(),
                "fill_values": self.fill_values_.copy(), "encoder": self.encoder_.to_state(),
                "stats": self._stats.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureTransformer:
        """Rebuild a transformer saved by :meth:`get_state` (it can go on with ``partial_fit``)."""
        if state.get("kind") != "FeatureTransformer" or state.get("version") != _STATE_VERSION:
            raise DataError(
                f"This is not a FeatureTransformer state of version {_STATE_VERSION} "
                f"(kind={state.get('kind')!r}, version={state.get('version')!r}); it was "
                "written by another version of bigfit."
            )
        transformer = cls(**state["params"])
        transformer.feature_names_in_ = list(state["feature_names_in"])
        transformer.categorical_features_in_ = list(state["categorical_features_in"])
        transformer.n_features_in_ = len(transformer.feature_names_in_)
        transformer.n_samples_seen_ = int(state["n_samples_seen"])
        for name in ("mean", "var", "scale", "fill_values"):
            setattr(transformer, f"{name}_", np.array(state[name], dtype=np.float64))
        transformer.encoder_ = encoder_from_state(state["encoder"])
        transformer._stats = FitStats.from_state(state["stats"])
        transformer._prepare()
        return transformer


def _collect_dataset(dataset: Dataset, engine: Engine | str | None, plan: FitPlan) -> FitStats:
    """One ``map_reduce`` pass over the dataset's shards (at least one per worker)."""
    from bigfit.engine import running_engine  # the engine layer sits above data: import late

    with running_engine(engine) as resolved:
        shards = dataset.shards()
        if len(shards) < resolved.workers:
            shards = dataset.shards(resolved.workers)
        return resolved.map_reduce(collect_shard, shards, merge_stats, plan)
