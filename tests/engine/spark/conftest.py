"""One SparkSession for the whole test session (a start costs ~10 s), stopped with its JVM at the end.

The session runs ``local[2,4]``: two executor slots, and four attempts per task, since
Spark's plain ``local[N]`` never retries a task whose Python worker died.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import cloudpickle
import psutil
import pytest

import tests.engine.spark as this_package
from bigfit.engine.spark import SparkEngine
from bigfit.engine.spark._session import SessionState, release

# Spark workers cannot import the tests package: send its functions by value.
cloudpickle.register_pickle_by_value(this_package)

SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.pyspark.python": sys.executable,
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A ``local[2,4]`` SparkSession; at the end, it is stopped and every process it started is gone."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers import this bigfit
    launches_jvm = SparkContext._gateway is None
    builder = SparkSession.builder.master("local[2,4]").appName("bigfit-tests")
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    jvm = psutil.Process(SparkContext._gateway.proc.pid) if launches_jvm else None
    yield session
    # The JVM, pyspark's daemon and its Python workers.
    started = [jvm, *jvm.children(recursive=True)] if jvm is not None else []
    release(SessionState(session, owned=True, owns_jvm=launches_jvm))
    _, alive = psutil.wait_procs(started, timeout=20)
    assert not alive, f"processes of the test SparkSession survived it: {alive}"


@pytest.fixture(scope="session")
def spark_engine(spark: Any) -> SparkEngine:
    """An engine on the shared session (which it never stops)."""
    return SparkEngine(spark)
