"""Losses of linear models: a weighted loss sum and its gradient with respect to the scores.

Every loss maps scores ``z`` (``(n,)`` or ``(n, 1)``; ``(n, K)`` for ``multinomial``) and
targets ``y`` (``(n,)``) to ``sum_i w_i * loss(z_i, y_i)`` and ``w_i * dloss/dz_i`` (shaped
like ``z``), in float64, stable for any finite score.  Target conventions:

- ``log_loss``, ``hinge``: ``y`` in {0, 1} (hinge maps it to -1/+1);
- ``multinomial``: ``y`` an integer class index in ``[0, K)``;
- ``squared_error``, ``huber``: ``y`` real.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from bigfit._params import Interval, validate_params
from bigfit.exceptions import InvalidParameterError


class Loss(abc.ABC):
    """Base class of every loss.

    Attributes
    ----------
    name : str
        The registry name (:func:`get_loss`).
    is_classifier : bool
        True when targets are class labels.
    multi_output : bool
        True when scores have one column per class (``multinomial``).
    curvature : float
        A bound of the second derivative in the score (the hinge, not smooth, takes 1).
    """

    name: ClassVar[str]
    is_classifier: ClassVar[bool]
    multi_output: ClassVar[bool] = False
    curvature: ClassVar[float] = 1.0  # a bound of d2 loss / dz2 (nominal for the hinge)

    def loss_and_gradient(self, z: np.ndarray, y: np.ndarray,
                          w: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Return ``sum_i w_i * loss(z_i, y_i)`` and ``w_i * dloss/dz_i`` (shaped like ``z``).

        ``w=None`` weighs every row 1.
        """
        z = np.asarray(z, dtype=np.float64)
        target = self._target(z, y)
        loss, grad = self._loss_grad(z, target)
        if w is None:
            return float(loss.sum()), grad
        weights = np.asarray(w, dtype=np.float64)
        grad *= weights if grad.ndim == 1 else weights[:, None]
        per_row = loss if loss.ndim == 1 else loss.sum(axis=1)  # a length-1 axis sums slowly
        return float(np.dot(per_row, weights)), grad

    def _target(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        return y.reshape(-1, 1) if z.ndim == 2 else y.reshape(-1)

    @abc.abstractmethod
    def _loss_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-element loss and unweighted gradient."""

    def slope_at(self, z: float) -> float:
        """``dloss/dz`` at score ``z`` for a positive target (scikit-learn's ``dloss(z, 1.0)``).

        The ``"optimal"`` learning rate of :class:`~bigfit.models.linear._optimizers.SGD`
        uses it to pick its initial step.
        """
        _, grad = self._loss_grad(np.array([float(z)]), np.array([1.0]))
        return float(grad[0])

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        """Class probabilities from scores; only for probabilistic losses."""
        raise NotImplementedError(
            f"The {self.name!r} loss gives no probabilities; use 'log_loss' or 'multinomial'."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


def _logistic_parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log(1 + exp(-|z|))``, ``expit(z)`` and ``expit(-z)``, each accurate to the last digits."""
    e = np.exp(-np.abs(z))
    inv = 1.0 / (1.0 + e)
    small = e * inv
    positive = z >= 0
    return np.log1p(e), np.where(positive, inv, small), np.where(positive, small, inv)


class LogLoss(Loss):
    """Binary cross-entropy ``log(1 + exp(z)) - y z`` (y in {0, 1}); ``dL/dz = expit(z) - y``.

    Computed as ``log1p(exp(-|z|)) + (max(z, 0) - y z)``: no overflow, and no cancellation
    for ``y`` in {0, 1}.
    """

    name = "log_loss"
    is_classifier = True
    curvature = 0.25

    def _loss_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # In-place steps: this is the costliest part of a pass after the products with X.
        e = np.abs(z)
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|z|)
        inv = np.add(e, 1.0)
        np.reciprocal(inv, out=inv)  # 1 / (1 + exp(-|z|))
        small = np.multiply(e, inv)
        grad = np.where(z >= 0, inv, small)  # expit(z)
        grad -= y
        loss = np.log1p(e, out=e)
        linear = np.maximum(z, 0.0, out=small)
        linear -= y * z
        loss += linear
        return loss, grad

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        """Return ``[1 - p, p]`` of shape ``(n, 2)`` with ``p = expit(z)``."""
        _, p, q = _logistic_parts(np.asarray(z, dtype=np.float64).reshape(-1))
        return np.column_stack([q, p])


class MultinomialLoss(Loss):
    """Softmax cross-entropy: ``logsumexp(z) - z[y]``; ``dL/dz = softmax(z) - onehot(y)``.

    Scores have ``K`` columns and ``y`` holds class indices in ``[0, K)``.
    """

    name = "multinomial"
    is_classifier = True
    multi_output = True
    curvature = 0.5

    def _target(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        if z.ndim != 2:
            raise ValueError(f"The multinomial loss needs scores of shape (n, K). Got {z.shape}.")
        return np.asarray(y).astype(np.intp, copy=False).reshape(-1)

    def _loss_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
            raise ValueError(f"Class indices must lie in [0, {z.shape[1]}). "
                             f"Got values from {y.min()} to {y.max()}.")
        # Work on the (K, n) transpose: reductions over classes then run along long rows.
        shifted = z.T.copy()
        shifted -= shifted.max(axis=0)
        own = y * len(y) + np.arange(len(y))  # flat positions of each row's own class
        loss = -shifted.ravel()[own]
        exp = np.exp(shifted, out=shifted)
        total = exp.sum(axis=0)
        loss += np.log(total)
        exp /= total
        exp.ravel()[own] -= 1.0
        return loss, exp.T

    def slope_at(self, z: float) -> float:
        """The binary log loss slope (one class against the rest at score ``z``)."""
        return LogLoss().slope_at(z)

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        """Return ``softmax(z)`` row by row, shape ``(n, K)``."""
        z = np.asarray(z, dtype=np.float64)
        exp = np.exp(z - z.max(axis=1, keepdims=True))
        exp /= exp.sum(axis=1, keepdims=True)
        return exp


class Hinge(Loss):
    """The SVM hinge ``max(0, 1 - s z)`` with ``s = 2 y - 1``; ``dL/dz = -s`` where ``s z <= 1``."""

    name = "hinge"
    is_classifier = True

    def _loss_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sign = 2.0 * y - 1.0
        margin = sign * z
        return np.maximum(0.0, 1.0 - margin), np.where(margin <= 1.0, -sign, 0.0)


class SquaredError(Loss):
    """``0.5 (z - y)^2``; ``dL/dz = z - y``."""

    name = "squared_error"
    is_classifier = False

    def _loss_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residual = z - y
        return 0.5 * residual * residual, residual


class Huber(Loss):
    """``0.5 r^2`` for ``|r| <= epsilon``, else ``epsilon |r| - 0.5 epsilon^2`` (``r = z - y``).

    ``dL/dz = clip(r, -epsilon, epsilon)``, as scikit-learn's ``SGDRegressor(loss="huber")``.
    """

    name = "huber"
    is_classifier = False

    def __init__(self, epsilon: float = 0.1) -> None:
        validate_params("Huber", {"epsilon": epsilon},
                        {"epsilon": [Interval(float, 0.0, None, closed="neither")]})
        self.epsilon = float(epsilon)

    def _loss_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residual = z - y
        size = np.abs(residual)
        eps = self.epsilon
        loss = np.where(size <= eps, 0.5 * residual * residual, eps * size - 0.5 * eps * eps)
        return loss, np.clip(residual, -eps, eps)

    def __repr__(self) -> str:
        return f"Huber(epsilon={self.epsilon!r})"


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (LogLoss, MultinomialLoss, Hinge, SquaredError, Huber)
}


def get_loss(name: str, **params: Any) -> Loss:
    """Return the loss called ``name``, built with ``params`` (``get_loss("huber", epsilon=1.0)``).

    Examples
    --------
    >>> get_loss("huber", epsilon=1.35)
    Huber(epsilon=1.35)
    >>> get_loss("log_loss").loss_and_gradient(np.array([0.0]), np.array([1.0]))[0]  # log 2
    0.6931471805599453
    """
    cls = LOSSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidParameterError(
            f"Unknown loss {name!r}; the losses are {sorted(LOSSES)}."
        )
    try:
        return cls(**params)
    except TypeError as error:
        raise InvalidParameterError(
            f"The {name!r} loss does not take {params}: {error}.") from error
