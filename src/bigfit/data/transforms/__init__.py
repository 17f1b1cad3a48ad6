"""Feature transforms fitted in one streaming pass and applied batch by batch.

:class:`FeatureTransformer` imputes and standardises numeric columns and turns
categorical value hashes into one-hot codes (hashing trick or top-k vocabulary).
Its state is plain data (numbers, strings, lists and numpy arrays) that a model file
saves next to the model.
"""

from bigfit.data.transforms._encoders import HashEncoder, VocabularyEncoder
from bigfit.data.transforms._fit_stats import FitPlan, FitStats, collect_shard, merge_stats
from bigfit.data.transforms._transformer import FeatureTransformer

__all__ = ["FeatureTransformer", "FitPlan", "FitStats", "HashEncoder", "VocabularyEncoder",
           "collect_shard", "merge_stats"]
