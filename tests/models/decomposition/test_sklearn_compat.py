"""scikit-learn's own estimator checks, run on both PCA solvers (no expected failure)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from bigfit import PCA


@parametrize_with_checks([PCA(), PCA(standardize=True, whiten=True),
                          PCA(n_components=1, solver="randomized", random_state=0)])
def test_scikit_learn_checks(estimator, check) -> None:
    check(estimator)
