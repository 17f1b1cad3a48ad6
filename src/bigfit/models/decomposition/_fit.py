"""The passes of a PCA fit, chosen from the data's columns and the solver.

- Covariance solver, numeric columns only: **one pass** of mean and scatter of the raw
  rows; the feature transform is fitted from the same statistics.  A missing (or
  infinite) value shows as a non-finite statistic; the fit then falls back to the path
  below, whose first pass learns the imputation (or reports the bad column).
- Otherwise a first pass fits the feature transform (imputation, one-hot vocabularies),
  then either one scatter pass of the transformed rows (covariance) or ``1 + q`` passes
  of the randomized solver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bigfit.data.dataset import Dataset
from bigfit.data.transforms import FeatureTransformer, FitPlan, FitStats, collect_shard, merge_stats
from bigfit.engine.base import Engine
from bigfit.exceptions import InvalidParameterError
from bigfit.models._engine import shards_for
from bigfit.models.decomposition._checks import (
    check_columns,
    check_constant,
    check_finite,
    check_n_components,
    check_rows,
)
from bigfit.models.decomposition._randomized import randomized_range
from bigfit.models.decomposition._scatter import Scatter, ScatterPlan, merge_scatter, scatter_shard
from bigfit.models.decomposition._solution import Solution, from_covariance, from_projection
from bigfit.models.decomposition._space import FeatureSpace

AUTO_COVARIANCE_MAX = 1_000  # features; wider data goes to the randomized solver under "auto"
AUTO_POWER_ITERATIONS = 2
_COVARIANCE_COPIES = 4  # d x d float64 matrices alive at once: partials, merge, eigenvectors


@dataclass(frozen=True)
class Fitted:
    """The outcome of the passes: the transform, the principal axes and the data's mean."""

    transformer: FeatureTransformer
    solution: Solution
    mean: np.ndarray  # numeric columns in input units, then one-hot frequencies
    n_rows: int
    solver: str
    passes: int


def fit_passes(estimator: Any, data: Dataset, engine: Engine) -> Fitted:
    """Run the passes of a fit of ``estimator`` (a :class:`~bigfit.PCA`) on ``data``."""
    numeric, categorical = list(data.numeric_features), list(data.categorical_features)
    transformer = new_transformer(estimator)
    passes = 0
    if not categorical and resolve_solver(estimator, len(numeric), data) == "covariance":
        plan = ScatterPlan(FeatureSpace(None), len(numeric), estimator.batch_size, track_range=True)
        scatter = engine.map_reduce(scatter_shard, shards_for(data, engine), merge_scatter, plan)
        passes = 1
        if np.isfinite(scatter.mean).all() and np.isfinite(np.diag(scatter.scatter)).all():
            check_rows(scatter.count)
            transformer.fit_from_stats(_stats_from(scatter, transformer.plan()), numeric, [])
            return _covariance_result(estimator, transformer, scatter, "covariance", passes)
    train = data.cache() if estimator.cache else data
    shards = shards_for(train, engine)
    stats = engine.map_reduce(collect_shard, shards, merge_stats, transformer.plan(estimator.batch_size))
    passes += 1
    check_rows(stats.n_rows)
    check_columns(stats.moments, numeric)
    transformer.fit_from_stats(stats, numeric, categorical)
    space = FeatureSpace(transformer, shift=transformer.mean_.copy())
    solver = resolve_solver(estimator, len(numeric) + space.n_codes, data)
    if solver == "covariance":
        plan = ScatterPlan(space, len(numeric), estimator.batch_size)
        scatter = engine.map_reduce(scatter_shard, shards, merge_scatter, plan)
        return _covariance_result(estimator, transformer, scatter, solver, passes + 1)
    return _randomized_result(estimator, transformer, space, shards, engine, passes)


def new_transformer(estimator: Any) -> FeatureTransformer:
    """The feature transform of ``estimator``'s parameters (not fitted)."""
    return FeatureTransformer(standardize=estimator.standardize, impute=estimator.impute,
                              categorical=estimator.categorical, n_buckets=estimator.n_buckets,
                              max_categories=estimator.max_categories, seed=estimator.random_state or 0)


def resolve_solver(estimator: Any, n_features: int, data: Dataset) -> str:
    """The solver for ``n_features`` model columns: ``"auto"`` picks by width."""
    solver = estimator.solver
    if solver == "auto":  # a share of the variance needs every eigenvalue: covariance only
        wide = n_features > AUTO_COVARIANCE_MAX and not isinstance(estimator.n_components, float)
        solver = "randomized" if wide else "covariance"
    if solver == "covariance":
        need = _COVARIANCE_COPIES * 8 * n_features**2
        if need > data.budget.memory_limit:
            raise InvalidParameterError(
                f"solver='covariance' needs {_COVARIANCE_COPIES} matrices of {n_features} x {n_features} "
                f"float64 ({need / 1e9:.1f} GB), more than the memory limit of "
                f"{data.budget.memory_limit / 1e9:.1f} GB; use solver='randomized' for data this wide.")
    elif isinstance(estimator.n_components, float):
        raise InvalidParameterError(
            f"n_components={estimator.n_components} (a share of the variance) needs every "
            "eigenvalue, which only solver='covariance' computes; pass a number of components.")
    return solver


def model_scale(transformer: FeatureTransformer, standardize: bool) -> np.ndarray:
    """The divisor of each model column: the standard deviation when standardising, else 1."""
    numeric = transformer.scale_ if standardize else np.ones(transformer.n_features_in_)
    n_codes = transformer.n_codes if transformer.categorical_features_in_ else 0
    return np.concatenate([numeric, np.ones(n_codes)])


def _covariance_result(estimator: Any, transformer: FeatureTransformer, scatter: Scatter,
                       solver: str, passes: int) -> Fitted:
    names = transformer.feature_names_out
    check_finite(scatter.mean, np.diag(scatter.scatter), names)
    check_constant(transformer.var_, list(transformer.feature_names_in_), estimator.standardize)
    k = check_n_components(estimator.n_components, scatter.count, scatter.n_features,
                           encoded=bool(transformer.categorical_features_in_))
    scale = model_scale(transformer, estimator.standardize)
    solution = from_covariance(scatter.covariance(scale), scatter.count, k)
    return Fitted(transformer, solution, scatter.mean, scatter.count, solver, passes)


def _randomized_result(estimator: Any, transformer: FeatureTransformer, space: FeatureSpace,
                       shards: list[Any], engine: Engine, passes: int) -> Fitted:
    check_constant(transformer.var_, list(transformer.feature_names_in_), estimator.standardize)
    n_rows = transformer.n_samples_seen_
    scale = model_scale(transformer, estimator.standardize)
    d = len(scale)
    k = int(check_n_components(estimator.n_components, n_rows, d,
                               encoded=bool(transformer.categorical_features_in_)))
    q = AUTO_POWER_ITERATIONS if estimator.iterated_power == "auto" else int(estimator.iterated_power)
    width = min(k + estimator.n_oversamples, d)
    result = randomized_range(shards, engine, space, scale, width, q, estimator.random_state or 0,
                              estimator.batch_size)
    check_finite(result.mean, result.variance, transformer.feature_names_out)
    total = float(result.variance.sum())
    solution = from_projection(result.sketch, result.count, d, k, total)
    return Fitted(transformer, solution, result.mean, result.count, "randomized",
                  passes + result.passes)


def _stats_from(scatter: Scatter, plan: FitPlan) -> FitStats:
    """The transform's statistics of numeric rows without missing values, from their scatter."""
    p = scatter.n_features
    n = scatter.count
    moments = {"n_features": p, "count": np.full(p, n, dtype=np.int64), "nulls": np.zeros(p, dtype=np.int64),
               "min": scatter.low, "max": scatter.high, "mean": scatter.mean,
               "m2": np.diag(scatter.scatter).copy()}
    return FitStats.from_state({"count_values": plan.count_values, "capacity": plan.capacity, "n_rows": n,
                                "n_numeric": p, "n_categorical": 0, "moments": moments, "values": []})
