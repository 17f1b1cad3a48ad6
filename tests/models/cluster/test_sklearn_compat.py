"""scikit-learn's own estimator checks, run on both k-means algorithms."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from bigfit import KMeans

_SAMPLING = ("the initialisation draws rows by a hash of each row's id, so a row repeated twice is "
             "drawn differently from one row of weight 2 and the fits end in other local optima "
             "(scikit-learn marks its own KMeans and MiniBatchKMeans the same way); weights are "
             "tested on real data in test_kmeans.py")


def expected_failures(estimator) -> dict[str, str]:
    return {"check_sample_weight_equivalence_on_dense_data": _SAMPLING}


@parametrize_with_checks(
    [KMeans(random_state=0), KMeans(algorithm="minibatch", random_state=0)],
    expected_failed_checks=expected_failures,
)
def test_scikit_learn_checks(estimator, check) -> None:
    check(estimator)
