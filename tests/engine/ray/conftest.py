"""One local Ray runtime for the whole test session (a start costs seconds), shut down at the end.

Two CPUs and a 500 MB object store; at the end of the session, every process the
runtime started (GCS, raylet, workers...) must be gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
import ray
import ray.cloudpickle

import tests.engine.ray as this_package
from bigfit.engine.ray import RayEngine

# Ray workers need not import the tests package: send its functions by value.
ray.cloudpickle.register_pickle_by_value(this_package)

OBJECT_STORE_BYTES = 500 * 2**20


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[None]:
    """A local runtime with 2 CPUs; at the end it is shut down and every process it started is gone."""
    assert not ray.is_initialized(), "a Ray runtime already runs in the test process"
    before = {process.pid for process in psutil.Process().children()}
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             log_to_driver=False)
    runtime = [process for process in psutil.Process().children() if process.pid not in before]
    assert any("raylet" in process.name() for process in runtime)
    yield
    # The runtime's own processes (GCS, raylet...) and what they started since (workers).
    started = [*runtime, *(child for process in runtime if process.is_running()
                           for child in process.children(recursive=True))]
    ray.shutdown()
    _, alive = psutil.wait_procs(started, timeout=20)
    assert not alive, f"processes of the test Ray runtime survived its shutdown: {alive}"


@pytest.fixture(scope="session")
def ray_engine(ray_runtime: None) -> RayEngine:
    """An engine on the shared runtime (which it never shuts down)."""
    return RayEngine()
