"""Linear models fitted out of core: logistic, linear and SGD estimators."""

from bigfit.models.linear.logistic import LogisticRegression
from bigfit.models.linear.regression import LinearRegression, SGDRegressor
from bigfit.models.linear.sgd import SGDClassifier

__all__ = ["LinearRegression", "LogisticRegression", "SGDClassifier", "SGDRegressor"]
