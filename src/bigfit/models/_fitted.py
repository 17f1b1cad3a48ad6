"""What every estimator fitted through a FeatureTransformer shares once it is fitted.

:class:`FittedOnData` reads new data as exactly the columns the model was fitted on,
streams predictions batch by batch, saves the model, and stores and restores the input
description (transformer state, feature names, column roles) in model files.  A subclass
provides ``_check_fitted`` and ``_batch_predictions(batch)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bigfit.data.batch import Batch
from bigfit.data.dataset import Dataset
from bigfit.data.transforms import FeatureTransformer
from bigfit.exceptions import NotFittedError
from bigfit.models._inputs import prediction_data


def not_fitted(estimator: object) -> Exception:
    """The error of a method called before ``fit``: bigfit's and scikit-learn's at once."""
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    class NotFitted(NotFittedError, SklearnNotFitted):
        """Both bigfit's and scikit-learn's not-fitted error."""

    return NotFitted(f"This {type(estimator).__name__} instance is not fitted yet; call fit with "
                     "appropriate arguments before using this estimator.")


class FittedOnData:
    """Mixin: prediction input, streaming output and model-file plumbing of a fitted estimator."""

    transformer_: FeatureTransformer
    input_columns_: dict[str, list[str]]
    feature_names_in_: np.ndarray
    memory_limit: Any
    impute: str

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan = self.impute != "error"  # missing values are imputed
        return tags

    def _check_fitted(self) -> None:
        raise NotImplementedError

    def _batch_predictions(self, batch: Batch) -> dict[str, np.ndarray]:
        """The passthrough and output columns of one batch of :meth:`_prediction_view`."""
        raise NotImplementedError

    def _predict_data(self, X: Any) -> Dataset:
        """``X`` as a dataset of exactly the fitted features; other columns are ignored.

        A plain array with as many columns as the model has numeric features is read by
        position, in the order the model was fitted on.
        """
        self._check_fitted()
        return prediction_data(X, numeric=list(self.transformer_.feature_names_in_),
                               categorical=list(self.transformer_.categorical_features_in_),
                               columns=self.input_columns_, owner=type(self).__name__,
                               memory_limit=self.memory_limit)

    def _feature_columns(self) -> list[str]:
        """The data columns the model reads, in the order it was fitted on."""
        columns = self.input_columns_
        return [*columns["numeric"], *columns["datetime"], *columns["categorical"]]

    def _prediction_view(self, data: Dataset, passthrough: Sequence[str] = ()) -> Dataset:
        """``data`` reading exactly the fitted features, plus the ``passthrough`` columns."""
        view = self._predict_data(data)
        if passthrough:
            view = view.select(self._feature_columns(), categorical=self.input_columns_["categorical"],
                               passthrough=passthrough)
        return view

    def predict_stream(self, data: Dataset, *, passthrough: Sequence[str] = (),
                       ) -> Iterator[dict[str, np.ndarray]]:
        """Yield the output columns of each batch of ``data``, in bounded memory.

        Each dict holds the ``passthrough`` columns (ids) first, then the estimator's own
        output columns (see its class documentation); ``bigfit predict`` writes them to Parquet.
        """
        for batch in self._prediction_view(data, passthrough).batches():
            yield self._batch_predictions(batch)

    def save(self, path: str, *, storage_options: dict[str, Any] | None = None) -> None:
        """Write the fitted model to a ``.bigfit`` file (local path or URL), atomically."""
        from bigfit.models.registry import save

        self._check_fitted()
        save(self, path, storage_options=storage_options)

    def _input_state(self) -> dict[str, Any]:
        """The fitted input description, as plain data for a model file."""
        return {"transformer": self.transformer_.get_state(),
                "feature_names_in": [str(n) for n in self.feature_names_in_],
                "input_columns": self.input_columns_}

    def _restore_inputs(self, state: dict[str, Any]) -> None:
        """Set the attributes :meth:`_input_state` stored."""
        self.transformer_ = FeatureTransformer.from_state(state["transformer"])
        self.feature_names_in_ = np.array(state["feature_names_in"], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.input_columns_ = {role: list(names) for role, names in state["input_columns"].items()}
