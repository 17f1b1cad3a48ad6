"""The engine contract on Spark (``local[2,4]``), killed worker included; broadcasts and copies."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest
from sklearn.base import clone

from bigfit import LogisticRegression
from bigfit.engine import Broadcast, Engine
from bigfit.engine.spark import SparkEngine
from bigfit.testing import EngineContract


class TestSparkEngine(EngineContract):
    tasks_in_separate_processes = True

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls, spark_engine: SparkEngine) -> Iterator[Engine]:
        yield spark_engine


def _read(engine: SparkEngine, handle: Broadcast[list[int]], positions: list[int]) -> list[int]:
    return engine.map(lambda k: handle.value[k], positions)


def test_dropped_broadcast_is_destroyed(spark_engine: SparkEngine) -> None:
    handle = spark_engine.broadcast(list(range(1000)))
    assert _read(spark_engine, handle, [3, 999]) == [3, 999]
    path = handle._spark._path  # pyspark's copy of the value in the driver
    assert os.path.exists(path)
    del handle
    gc.collect()
    assert not os.path.exists(path)


def test_estimators_clone_with_the_engine(spark_engine: SparkEngine) -> None:
    model = clone(LogisticRegression(engine=spark_engine))
    assert model.engine is spark_engine
