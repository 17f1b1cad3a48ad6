"""The Ray engine beyond the contract: specs, runtimes owned or not, errors, broadcasts, no stray process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from bigfit import Dataset
from bigfit.data.shards import Shard
from bigfit.engine import get_engine
from bigfit.engine.ray import RayEngine
from bigfit.exceptions import (
    DataError,
    EngineError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownEngineError,
)

OWNED_RUNTIME_DRIVER = textwrap.dedent("""
    import os, sys
    import psutil, ray
    from bigfit.engine import get_engine
    from bigfit.engine.ray import RayEngine

    def family():
        return {p.pid for p in psutil.Process().children(recursive=True)}

    if __name__ == "__main__":
        with RayEngine(num_cpus=1) as engine:
            assert engine.workers == 1
            assert engine.map(abs, [-1, -2]) == [1, 2]
            started = family()
        _, alive = psutil.wait_procs([psutil.Process(p) for p in started if psutil.pid_exists(p)],
                                     timeout=20)
        print("after close:", len(alive), ray.is_initialized(), flush=True)
        engine = get_engine("ray[1]")  # never closed: stopped at exit
        print(*engine.map(lambda _: os.getpid(), range(4)), *family(), flush=True)
""")


def _double_if_shard(item: object) -> object:
    if isinstance(item, Shard):
        raise DataError(f"bad value in {item.pieces[0].describe()}")
    return item


@pytest.mark.parametrize(("spec", "expected"), [
    ("ray", "RayEngine()"), ("ray[3]", "RayEngine(num_cpus=3)"), ("ray[auto]", "RayEngine(address='auto')"),
    ("ray[10.0.0.5:6379]", "RayEngine(address='10.0.0.5:6379')"),
    ("ray://head:10001", "RayEngine(address='ray://head:10001')"),
])
def test_specs(spec: str, expected: str) -> None:
    engine = get_engine(spec)
    assert isinstance(engine, RayEngine) and repr(engine) == expected
    assert engine.spec == spec


def test_bad_specs_and_parameters() -> None:
    with pytest.raises(InvalidParameterError, match=r"'ray\[0\]' must be an integer >= 1"):
        get_engine("ray[0]")
    with pytest.raises(UnknownEngineError, match="Cannot read 'rayon'"):
        RayEngine.from_spec("rayon")
    with pytest.raises(InvalidParameterError, match="does not apply to the cluster at 'auto'"):
        RayEngine("auto", num_cpus=2)
    with pytest.raises(InvalidParameterError, match=r"'cache_fraction' .* \[0, 1\)\. Got 1.5"):
        RayEngine(cache_fraction=1.5)
    with pytest.raises(InvalidParameterError, match="'max_retries' parameter of RayEngine"):
        RayEngine(max_retries=-1)


def test_missing_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith("bigfit.engine.ray")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'bigfit\[ray\]'"):
        get_engine("ray")


def test_importing_bigfit_does_not_import_ray() -> None:
    code = ("import sys, bigfit, bigfit.engine, bigfit.data.dataset; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_running_runtime_is_used_and_left_running(ray_runtime: None) -> None:
    with get_engine("ray") as engine:
        assert engine.workers == 2
        assert engine.map(abs, [-3]) == [3]
    assert ray.is_initialized()
    with pytest.raises(EngineError, match=r"already connected to Ray.*engine='ray'"):
        RayEngine(num_cpus=1).map(abs, [1])


def test_bigfit_error_in_a_task_keeps_its_type_and_names_the_shard(
        tmp_path: Path, ray_engine: RayEngine) -> None:
    pq.write_table(pa.table({"x": np.arange(100.0), "y": np.arange(100) % 2}), tmp_path / "d.parquet",
                   row_group_size=25)
    shards = Dataset(tmp_path / "d.parquet", target="y").shards(4)
    with pytest.raises(DataError, match=r"bad value in d\.parquet row group 2 \(in task 2 on Shard\(2"):
        ray_engine.map(_double_if_shard, [1, 2, shards[2]])


def test_broadcast_is_loaded_once_per_worker_process(ray_engine: RayEngine) -> None:
    handle = ray_engine.broadcast(np.arange(10.0))
    seen = ray_engine.map(lambda _: (os.getpid(), id(handle.value), handle.value.flags.writeable),
                          range(40))
    per_process: dict[int, set[int]] = {}
    for pid, address, writeable in seen:
        per_process.setdefault(pid, set()).add(address)
        assert not writeable  # a view of the object store
    assert all(len(addresses) == 1 for addresses in per_process.values())


def test_results_are_writable(ray_engine: RayEngine) -> None:
    (result,) = ray_engine.map(lambda n: np.zeros(n), [1000])
    result += 1  # combine functions add partial results in place
    assert result.sum() == 1000


def test_object_that_cannot_be_sent_is_named(ray_engine: RayEngine) -> None:
    import threading

    lock = threading.Lock()
    with pytest.raises(EngineError, match=r"Cannot send .* to Ray workers"):
        ray_engine.map(lambda x: (lock, x), [1])
    with pytest.raises(EngineError, match=r"Cannot send <unlocked _thread\.lock"):
        ray_engine.broadcast(lock)


def test_runtime_started_by_bigfit_is_gone_after_close_and_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(OWNED_RUNTIME_DRIVER)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "RAY_ADDRESS": ""})
    assert done.returncode == 0, done.stderr
    closed, leftover = done.stdout.splitlines()
    assert closed == "after close: 0 False"
    pids = [int(pid) for pid in leftover.split()]
    processes = []
    for pid in set(pids):
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(processes, timeout=20)
    assert not alive, f"Ray processes outlived the driver: {alive}"
