"""Specs, sessions bigfit uses but does not own, and no process left behind by one it started."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import psutil
import pytest

from bigfit.engine import available_engines, get_engine
from bigfit.engine.spark import SparkEngine
from bigfit.exceptions import EngineError, InvalidParameterError, UnknownEngineError

# Starts sessions of its own, so it runs in a separate interpreter: Spark allows one per process.
OWNED_DRIVER = textwrap.dedent("""
    import os, signal
    import psutil
    from pyspark import SparkContext
    from bigfit.engine import get_engine
    from bigfit.exceptions import EngineError

    def family():
        jvm = psutil.Process(SparkContext._gateway.proc.pid)
        return [jvm.pid] + [child.pid for child in jvm.children(recursive=True)]

    def die(item):
        os.kill(os.getpid(), signal.SIGKILL)

    if __name__ == "__main__":
        engine = get_engine("spark[local[2]]")
        assert engine.map(abs, [-1, -2, -3]) == [1, 2, 3]
        first = family()
        try:
            engine.map(die, [1])
        except EngineError as error:
            print("error:", error, flush=True)
        engine.close()
        _, alive = psutil.wait_procs([psutil.Process(pid) for pid in first if psutil.pid_exists(pid)],
                                     timeout=20)
        print("alive after close:", len(alive), flush=True)
        assert engine.map(abs, [-4]) == [4]  # starts again
        print("left at exit:", *family(), flush=True)
""")


def test_specs() -> None:
    assert repr(get_engine("spark")) == "SparkEngine()" and get_engine("spark").spec == "spark"
    for spec, master in [("spark[local[2]]", "local[2]"), ("spark[local[4,3]]", "local[4,3]"),
                         ("spark[yarn]", "yarn"), ("spark[k8s://https://h:443]", "k8s://https://h:443"),
                         ("spark://head:7077", "spark://head:7077")]:
        engine = get_engine(spec)
        assert isinstance(engine, SparkEngine) and repr(engine) == f"SparkEngine(master={master!r})"
        assert engine.spec == spec
    assert ("spark", True, "spark, spark[<master URL>]") in available_engines()


@pytest.mark.parametrize("spec", ["spark[]", "spark[local[2]", "sparks"])
def test_bad_specs_show_the_forms(spec: str) -> None:
    with pytest.raises(UnknownEngineError, match=r"spark\[<master URL>\]|'spark\[local\[4\]\]'"):
        get_engine(spec)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="either a SparkSession or a master"):
        SparkEngine(object(), master="local[2]")
    with pytest.raises(InvalidParameterError, match=r"must be a pyspark SparkSession\. Got int"):
        SparkEngine(3)
    with pytest.raises(InvalidParameterError, match=r"master URL such as 'local\[4\]'\. Got ''"):
        SparkEngine(master="")


def test_the_running_session_is_used_and_never_stopped(spark: Any) -> None:
    for engine in (get_engine("spark"), SparkEngine(spark), get_engine("spark[local[2,4]]")):
        assert engine.session.sparkContext is spark.sparkContext
        assert engine.workers == 2
        engine.close()
        assert spark.sparkContext._jsc is not None


def test_another_master_is_refused_while_a_session_runs(spark: Any) -> None:
    with pytest.raises(EngineError, match=r"master 'local\[2,4\]' already runs.*engine='spark'"):
        get_engine("spark[local[3]]").workers  # noqa: B018 - starting the session is the test


def test_started_session_and_its_jvm_end_with_close_and_at_exit(tmp_path: Any) -> None:
    script = tmp_path / "driver.py"
    script.write_text(OWNED_DRIVER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("error: The Spark job failed") and "local[N,maxFailures]" in lines[0]
    assert lines[1] == "alive after close: 0"
    left = [int(pid) for pid in lines[2].split(":")[1].split()]
    processes = [psutil.Process(pid) for pid in left if psutil.pid_exists(pid)]
    _, alive = psutil.wait_procs(processes, timeout=20)
    assert not alive, f"processes outlived the driver: {alive}"


def test_importing_bigfit_never_imports_pyspark() -> None:
    code = ("import sys, numpy as np, bigfit\n"
            "from bigfit import Dataset, LogisticRegression\n"
            "LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])\n"
            "Dataset({'x': np.arange(3.0)}).shards()\n"
            "print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples() -> None:
    import doctest

    import bigfit.engine.spark.engine as module

    assert doctest.testmod(module).failed == 0
