"""The error of an estimator used before it is fitted."""

from __future__ import annotations

from bigfit.exceptions import NotFittedError


def not_fitted(estimator: object) -> Exception:
    """The error of a method called before ``fit``: bigfit's and scikit-learn's at once."""
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    class NotFitted(NotFittedError, SklearnNotFitted):
        """Both bigfit's and scikit-learn's not-fitted error."""

    return NotFitted(f"This {type(estimator).__name__} instance is not fitted yet; call fit with "
                     "appropriate arguments before using this estimator.")
