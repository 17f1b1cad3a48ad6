"""SGD's classifier: hinge (linear SVM) or log loss, fitted out of core."""

from __future__ import annotations

from typing import Any

from bigfit.models.linear._base import store_params
from bigfit.models.linear._classifier import LinearClassifier
from bigfit.models.registry import register_estimator


@register_estimator("SGDClassifier")
class SGDClassifier(LinearClassifier):
    """A linear classifier trained by mini-batch SGD (scikit-learn's ``SGDClassifier``, out of core).

    ``loss="log_loss"`` is logistic regression (multinomial beyond two classes),
    ``loss="hinge"`` a linear SVM (binary only). Other parameters and attributes are those
    of :class:`~bigfit.LogisticRegression`, with ``solver="sgd"`` by default.
    """

    _default_solver = "sgd"

    def __init__(self, *, loss: str = "log_loss", alpha: float = 1e-4, l1_ratio: float = 0.0,
                 solver: str = "auto", max_iter: int = 1000, tol: float = 1e-3,
                 batch_size: int | None = None, learning_rate: str = "optimal", eta0: float = 0.01,
                 early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 5, class_weight: Any = None, standardize: bool = True,
                 categorical: str = "onehot", n_buckets: int = 2**18, max_categories: int = 100,
                 impute: str = "mean", random_state: int | None = None, engine: Any = None,
                 memory_limit: Any = None, cache: bool = True) -> None:
        store_params(self, locals())

    @property
    def _binary_loss(self) -> str:  # type: ignore[override]
        return self.loss

    def _supports_multiclass(self) -> bool:
        return self.loss == "log_loss"
