"""Evaluation metrics computed over many batches and shards in bounded memory.

Each accumulator follows the sketch protocol of :mod:`bigfit.data.stats`, so one
validation pass is a map-reduce: fill one accumulator per shard, merge the partials.

- ``update(y_true, prediction, sample_weight=None)`` folds one batch in, **in place**,
  and returns ``self``;
- ``merge(other)`` folds another accumulator of the same kind in, **in place**, and
  returns ``self`` (``other`` is left unchanged);
- ``result()`` returns the metrics as a dict of plain Python values;
- ``to_state()`` / ``from_state(state)`` turn an accumulator into plain data and back.

Examples
--------
>>> import functools
>>> import numpy as np
>>> y = np.array([0.0, 1.0, 2.0, 3.0])
>>> partials = [RegressionMetrics().update(y[i:i + 2], y[i:i + 2] + 0.5) for i in (0, 2)]
>>> functools.reduce(RegressionMetrics.merge, partials).result()["mae"]
0.5
"""

from bigfit.models.metrics._classification import ClassificationMetrics
from bigfit.models.metrics._regression import RegressionMetrics

__all__ = ["ClassificationMetrics", "RegressionMetrics"]
