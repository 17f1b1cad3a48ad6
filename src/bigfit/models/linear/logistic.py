"""Logistic regression, binary or multinomial, fitted out of core."""

from __future__ import annotations

from typing import Any

from bigfit.models.linear._base import store_params
from bigfit.models.linear._classifier import LinearClassifier
from bigfit.models.registry import register_estimator


@register_estimator("LogisticRegression")
class LogisticRegression(LinearClassifier):
    """Logistic regression (multinomial beyond two classes) on data larger than memory.

    Minimises ``mean_i w_i log_loss_i + alpha (l1_ratio ||w||_1 + (1 - l1_ratio) / 2 ||w||_2^2)``
    (the intercept is not penalised), which is scikit-learn's
    ``LogisticRegression(C=1 / (alpha * n_samples))`` for ``l1_ratio=0``.

    Parameters
    ----------
    alpha : float, default=1e-4
        Regularisation strength.
    l1_ratio : float, default=0.0
        Share of L1 in the penalty: 0 is ridge (L2), 1 is lasso (L1), between is elastic net.
    solver : {"auto", "lbfgs", "sgd", "adagrad", "adam", "ftrl"}, default="auto"
        ``"lbfgs"`` (OWL-QN when ``l1_ratio > 0``) evaluates the full objective with one
        map-reduce pass per iteration; the others take mini-batch steps for ``max_iter``
        epochs. ``"auto"`` is ``"lbfgs"``.
    max_iter : int, default=100
        L-BFGS iterations, or epochs of the mini-batch solvers.
    tol : float, default=1e-6
        Stop when the (validation) loss improves by less than this for ``n_iter_no_change``
        epochs, or when L-BFGS's projected gradient falls below it.
    batch_size : int, optional
        Rows per mini-batch step (default 1024) and per batch read for L-BFGS.
    learning_rate, eta0 :
        Step-size schedule (``"optimal"``, ``"constant"``, ``"invscaling"``, ``"adaptive"``)
        and base step size of the mini-batch solvers.  SGD's schedules give per-sample step
        sizes, as in scikit-learn; a step on a batch of ``B`` rows moves ``B`` of them along
        the batch's mean gradient, up to a limit set from the data's scale (see
        :class:`~bigfit.models.linear._optimizers.SGD`).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (a stable hash split) and stop when the
        validation loss stops improving; it is recorded in ``history_``.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    class_weight : dict, "balanced" or None
        Multiplies each row's weight by its class's weight; "balanced" uses
        ``n_samples / (n_classes * count(class))`` from a streamed count.
    standardize, categorical, n_buckets, max_categories, impute :
        The feature transforms fitted with the model (see :class:`bigfit.FeatureTransformer`).
    random_state : int, optional
        Seeds shuffling, the holdout split and hashing: the same seed and engine size give
        the same model.
    engine : str or Engine, optional
        Where to run: ``"local"`` (default), ``"local[4]"``, ...
    memory_limit : str or int, optional
        Memory budget for reading the data, e.g. ``"2GB"``.
    cache : bool, default=True
        Keep decoded data in bigfit's binary cache between iterations.

    Attributes
    ----------
    classes_ : ndarray
    coef_ : ndarray of shape (1, n_coef) or (n_classes, n_coef)
        Coefficients of the standardised numeric features, then of the categorical codes.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : int
    history_ : list of dict
        Per iteration or epoch: ``train_loss``, ``validation_loss`` (with a holdout),
        ``seconds``, ``rows_per_second``, ``peak_rss_mb``.
    transformer_ : FeatureTransformer

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3)); y = (X[:, 0] - X[:, 1] > 0).astype(int)
    >>> LogisticRegression().fit(X, y).score(X, y) > 0.95
    True
    """

    def __init__(self, *, alpha: float = 1e-4, l1_ratio: float = 0.0, solver: str = "auto",
                 max_iter: int = 100, tol: float = 1e-6, batch_size: int | None = None,
                 learning_rate: str = "optimal", eta0: float = 0.01, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 5,
                 class_weight: Any = None, standardize: bool = True, categorical: str = "onehot",
                 n_buckets: int = 2**18, max_categories: int = 100, impute: str = "mean",
                 random_state: int | None = None, engine: Any = None,
                 memory_limit: Any = None, cache: bool = True) -> None:
        store_params(self, locals())
