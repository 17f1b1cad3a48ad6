"""Linear regression (squared or Huber loss) and SGD's regressor, fitted out of core."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from bigfit.exceptions import InvalidParameterError
from bigfit.models.linear._base import LinearModel, store_params
from bigfit.models.linear._loss import Loss, get_loss
from bigfit.models.linear._target import TargetSummary
from bigfit.models.registry import register_estimator


class LinearRegressor(RegressorMixin, LinearModel):
    """Base of the linear regressors."""

    def _target_setup(self, target: TargetSummary) -> tuple[None, None, int]:
        return None, None, 1

    def _make_loss(self, n_outputs: int) -> Loss:
        if self.loss not in ("squared_error", "huber"):
            raise InvalidParameterError(f"The 'loss' parameter of {type(self).__name__} must be "
                                        f"'squared_error' or 'huber'. Got {self.loss!r} instead.")
        return get_loss("huber", epsilon=self.epsilon) if self.loss == "huber" else get_loss(self.loss)

    def predict(self, X: Any) -> np.ndarray:
        """Return the predicted value of each row."""
        return np.concatenate(list(self._score_batches(X)))[:, 0]

    def _prediction_columns(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        return {"prediction": scores[:, 0]}


@register_estimator("LinearRegression")
class LinearRegression(LinearRegressor):
    """Linear least squares (or Huber) regression with L1/L2 penalties, out of core.

    Minimises ``mean_i w_i loss_i + alpha (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||_2^2)``
    with ``loss = (y - z)^2 / 2``: ``Ridge(alpha=alpha * n)``, ``Lasso(alpha)`` and
    ``ElasticNet(alpha, l1_ratio)`` in scikit-learn's terms. Parameters and attributes are
    those of :class:`~bigfit.LogisticRegression` plus ``loss`` (``"squared_error"`` or
    ``"huber"``) and ``epsilon`` (Huber's threshold); ``coef_`` is 1-D and
    ``intercept_`` a float.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(20.0).reshape(10, 2); y = X @ [1.0, -2.0] + 3
    >>> model = LinearRegression(alpha=0.0, standardize=False).fit(X, y)
    >>> round(model.score(X, y), 6)
    1.0
    """

    def __init__(self, *, loss: str = "squared_error", epsilon: float = 1.35, alpha: float = 1e-4,
                 l1_ratio: float = 0.0, solver: str = "auto", max_iter: int = 100,
                 tol: float = 1e-6, batch_size: int | None = None, learning_rate: str = "invscaling",
                 eta0: float = 0.01, early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 5, standardize: bool = True, categorical: str = "onehot",
                 n_buckets: int = 2**18, max_categories: int = 100, impute: str = "mean",
                 random_state: int | None = None, engine: Any = None, memory_limit: Any = None,
                 cache: bool = True) -> None:
        store_params(self, locals())


@register_estimator("SGDRegressor")
class SGDRegressor(LinearRegressor):
    """Linear regression by mini-batch SGD (scikit-learn's ``SGDRegressor``, out of core).

    The same model as :class:`LinearRegression` with ``solver="sgd"`` by default; see there.
    """

    _default_solver = "sgd"

    def __init__(self, *, loss: str = "squared_error", epsilon: float = 0.1, alpha: float = 1e-4,
                 l1_ratio: float = 0.0, solver: str = "auto", max_iter: int = 1000,
                 tol: float = 1e-3, batch_size: int | None = None, learning_rate: str = "invscaling",
                 eta0: float = 0.01, early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 5, standardize: bool = True, categorical: str = "onehot",
                 n_buckets: int = 2**18, max_categories: int = 100, impute: str = "mean",
                 random_state: int | None = None, engine: Any = None, memory_limit: Any = None,
                 cache: bool = True) -> None:
        store_params(self, locals())
