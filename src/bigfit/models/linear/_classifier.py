"""What every linear classifier adds: classes, probabilities, labels, metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin

from bigfit.exceptions import DataError
from bigfit.models.linear._base import LinearModel
from bigfit.models.linear._loss import Loss, get_loss
from bigfit.models.linear._target import TargetSummary, class_weights


class LinearClassifier(ClassifierMixin, LinearModel):
    """Base of the linear classifiers: binary (one score) or multinomial (one per class)."""

    _classifier = True
    _binary_loss = "log_loss"

    def _target_setup(self, target: TargetSummary) -> tuple[np.ndarray, np.ndarray | None, int]:
        classes = target.classes()
        if len(classes) < 2:
            raise DataError(f"The target has only one class ({classes.tolist()}); a classifier "
                            "needs at least two. Check the target column or the data's filter.")
        self.classes_ = classes
        if len(classes) > 2 and not self._supports_multiclass():
            raise DataError(
                f"{type(self).__name__}(loss={self._binary_loss!r}) is binary but the target has "
                f"{len(classes)} classes {classes.tolist()[:10]}; use LogisticRegression, which "
                "fits a multinomial model.")
        weight = None if self.class_weight is None else class_weights(self.class_weight, classes, target)
        return classes, weight, 1 if len(classes) == 2 else len(classes)

    def _supports_multiclass(self) -> bool:
        return True

    def _make_loss(self, n_outputs: int) -> Loss:
        return get_loss("multinomial") if n_outputs > 1 else get_loss(self._binary_loss)

    def decision_function(self, X: Any) -> np.ndarray:
        """Return the raw scores of each row: shape (n,) for one output, (n, K) for K."""
        scores = np.concatenate(list(self._score_batches(X)))
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return class probabilities, shape (n_samples, n_classes), in ``classes_`` order."""
        scores = np.concatenate(list(self._score_batches(X)))
        loss = self._make_loss(scores.shape[1])
        proba = loss.predict_proba(scores if scores.shape[1] > 1 else scores[:, 0])
        return proba if proba.ndim == 2 else np.column_stack([1 - proba, proba])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Return the log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Return the most likely class of each row."""
        return self._labels(np.concatenate(list(self._score_batches(X))))

    def _labels(self, scores: np.ndarray) -> np.ndarray:
        index = (scores[:, 0] > 0).astype(np.intp) if scores.shape[1] == 1 else scores.argmax(axis=1)
        return self.classes_[index]

    def _prediction_columns(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        loss = self._make_loss(scores.shape[1])
        proba = loss.predict_proba(scores if scores.shape[1] > 1 else scores[:, 0])
        proba = proba if proba.ndim == 2 else np.column_stack([1 - proba, proba])
        columns = {"prediction": self._labels(scores)}
        columns.update({f"proba_{label}": proba[:, k] for k, label in enumerate(self.classes_.tolist())})
        return columns
