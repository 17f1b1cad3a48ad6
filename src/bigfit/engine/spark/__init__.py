"""The Spark engine (``pip install 'bigfit[spark]'``): ``engine="spark"``.

Specs: ``"spark"`` runs on the SparkSession of this process, or starts one on
``local[*]``; ``"spark[<master URL>]"`` starts one on that master when none runs
(``"spark[local[4]]"``, ``"spark[local[4,4]]"`` with task retries, ``"spark[yarn]"``,
``"spark[k8s://https://host:443]"``); ``"spark://host:7077"`` names a standalone master.
See :class:`SparkEngine`.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("pyspark") is None:  # the registry turns this into an install hint
    raise ImportError("pyspark is not installed")

from bigfit.engine.spark.engine import SparkEngine

__all__ = ["SparkEngine"]
