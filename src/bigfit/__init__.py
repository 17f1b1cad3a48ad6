"""bigfit: train machine-learning models on datasets larger than memory, fast.

Heavy modules load on first use, so ``import bigfit`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bigfit._config import config_context, get_config
from bigfit._lazy import lazy_attributes
from bigfit._version import __version__

if TYPE_CHECKING:
    from bigfit.data.dataset import Dataset
    from bigfit.data.profile import profile
    from bigfit.data.synthetic import make_dataset
    from bigfit.data.transforms import FeatureTransformer
    from bigfit.engine import Engine, get_engine
    from bigfit.models.cluster import KMeans
    from bigfit.models.decomposition import PCA
    from bigfit.models.linear import (
        LinearRegression,
        LogisticRegression,
        SGDClassifier,
        SGDRegressor,
    )
    from bigfit.models.registry import load

__all__ = [  # noqa: RUF022 - plain sorted() order, as tests/test_package.py checks
    "Dataset",
    "Engine",
    "FeatureTransformer",
    "KMeans",
    "LinearRegression",
    "LogisticRegression",
    "PCA",
    "SGDClassifier",
    "SGDRegressor",
    "__version__",
    "config_context",
    "get_config",
    "get_engine",
    "load",
    "make_dataset",
    "profile",
]

_LAZY = {
    "Dataset": "bigfit.data.dataset",
    "Engine": "bigfit.engine",
    "FeatureTransformer": "bigfit.data.transforms",
    "get_engine": "bigfit.engine",
    "KMeans": "bigfit.models.cluster",
    "LinearRegression": "bigfit.models.linear",
    "LogisticRegression": "bigfit.models.linear",
    "PCA": "bigfit.models.decomposition",
    "SGDClassifier": "bigfit.models.linear",
    "SGDRegressor": "bigfit.models.linear",
    "load": "bigfit.models.registry",
    "make_dataset": "bigfit.data.synthetic",
    "profile": "bigfit.data.profile",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
