"""Linear models fitted out of core: logistic, linear and SGD estimators.

The estimators load on first use: worker processes that only run a pass over shards import
that pass's module, not scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bigfit._lazy import lazy_attributes

if TYPE_CHECKING:
    from bigfit.models.linear.logistic import LogisticRegression
    from bigfit.models.linear.regression import LinearRegression, SGDRegressor
    from bigfit.models.linear.sgd import SGDClassifier

__all__ = ["LinearRegression", "LogisticRegression", "SGDClassifier", "SGDRegressor"]

_LAZY = {
    "LinearRegression": "bigfit.models.linear.regression",
    "LogisticRegression": "bigfit.models.linear.logistic",
    "SGDClassifier": "bigfit.models.linear.sgd",
    "SGDRegressor": "bigfit.models.linear.regression",
}

__getattr__ = lazy_attributes(__name__, _LAZY)
