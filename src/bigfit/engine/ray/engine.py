"""The Ray engine: bigfit tasks as Ray tasks; the object store carries broadcasts and caches shards."""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ray

from bigfit.engine.base import Broadcast, Engine
from bigfit.engine.local import available_cores
from bigfit.engine.ray._block_cache import BlockCache
from bigfit.engine.ray._broadcast import RayBroadcast, put
from bigfit.engine.ray._map_call import MapCall
from bigfit.engine.ray._runtime import Lease, acquire, cluster_cpus, object_store_bytes, release
from bigfit.exceptions import InvalidParameterError, UnknownEngineError

T = TypeVar("T")
R = TypeVar("R")

_SPEC = re.compile(r"^ray(?:\[(?P<arg>[^\]]+)\])?$")


@dataclass
class _State:
    """What the engine holds in the runtime; kept apart so that a finalizer can release it."""

    lease: Lease = field(default_factory=Lease)
    job: Any = None  # the driver's job id when ``cpus`` and ``cache`` were read
    cpus: int | None = None
    cache: BlockCache | None = None


class RayEngine(Engine):
    """Run tasks on a Ray cluster: the runtime already running, a cluster, or a local one.

    Parameters
    ----------
    address : str, optional
        ``None``: the Ray runtime already initialised in this process; else the
        cluster ``RAY_ADDRESS`` names, else a cluster started on this machine with
        ``ray start``, else a new local runtime with every core (``ray.init()``'s own
        search).  ``"auto"``: a running cluster only.  ``"host:port"`` or
        ``"ray://host:10001"`` (Ray Client): that cluster.  ``"local"``: a new local runtime.
    num_cpus : int, optional
        Start a new local runtime with this many CPUs (``address`` must then be None
        or ``"local"``).
    max_retries : int, default 3
        How many times a task is run again after its worker process or node died.
    cache_fraction : float, default 0.5
        Share of the cluster's object store that decoded shards of cached datasets may
        take (0 keeps none there).
    init_options : mapping, optional
        More ``ray.init`` arguments for a runtime bigfit starts or connects to
        (``object_store_memory``, ``runtime_env``, ``include_dashboard``; the dashboard
        is off unless asked for).

    Notes
    -----
    - **Runtime.** Nothing starts before the first task.  A runtime the user
      initialised is never shut down by bigfit.  One that bigfit initialised (started
      or connected to) is shut down by :meth:`close` of the last engine using it, when
      that engine is garbage-collected, or at interpreter exit; for a cluster bigfit
      did not start that only disconnects this driver.  A process has one Ray runtime:
      ask for another address or CPU count while one is initialised and you get an
      error.  :attr:`workers` is the number of CPUs in the cluster.
    - **Tasks.** Each item is one Ray task (one CPU; about 1 ms of overhead), and
      ``on_result`` is called in completion order.  Functions are put once in the object
      store per :meth:`map`; :meth:`broadcast` puts a value once, and each worker
      process loads it once (numpy arrays as read-only views of shared memory).
    - **Cached datasets.** For shards of a cached dataset (:meth:`bigfit.Dataset.cache`,
      which estimators use by default) the first task over a shard returns its decoded
      arrays to the object store as well as its result, and later tasks over that shard
      receive them instead of reading files: iterations after the first never read or
      decode the files, on any node (a task on another node than its shard's block
      fetches the block over the network).  Decoded shards take at most
      ``cache_fraction`` of the object store (the least recently used are dropped;
      shards beyond that are read from files each pass, through the cache directory of
      their worker's machine) and are freed by :meth:`close`.
    - **Ray Datasets.** ``bigfit.Dataset(ray_dataset, target="y")`` materialises the
      Ray Dataset in the object store and reads its blocks inside the tasks, never
      on the driver.
    - **Files.** Other shards are read by bigfit's reader where the task runs: workers
      need the data's paths or URLs (shared storage, ``s3://``...).
    - **Faults.** A task whose worker dies (killed, out of memory) or whose node dies is
      run again by Ray, up to ``max_retries`` times; the map ends with the same results.
      An error raised by a task is not retried: it is raised in the driver naming the
      item (see :func:`bigfit.engine.base.task_error`).
    - Workers need bigfit installed (``pip install 'bigfit[ray]'``), the same Python and
      Ray versions as the driver, and, for functions defined in a script, the code
      (``runtime_env={"working_dir": ...}``).

    Examples
    --------
    >>> with RayEngine(num_cpus=2) as engine:  # doctest: +SKIP
    ...     engine.map(lambda x: x * x, [1, 2, 3])
    [1, 4, 9]
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, max_retries: int = 3,
                 cache_fraction: float = 0.5, init_options: Mapping[str, Any] | None = None) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise InvalidParameterError(
                f"The 'address' parameter of RayEngine must be None or a cluster address such as "
                f"'auto' or 'ray://host:10001'. Got {address!r} instead.")
        if num_cpus is not None:
            if isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1:
                raise InvalidParameterError(
                    f"The 'num_cpus' parameter of RayEngine must be None or an int >= 1. "
                    f"Got {num_cpus!r} instead.")
            if address not in (None, "local"):
                raise InvalidParameterError(
                    f"num_cpus={num_cpus} sizes a new local Ray runtime; it does not apply to the "
                    f"cluster at {address!r}.")
            address = "local"
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidParameterError(
                f"The 'max_retries' parameter of RayEngine must be an int >= 0. Got {max_retries!r} instead.")
        if isinstance(cache_fraction, bool) or not isinstance(cache_fraction, int | float) \
                or not 0 <= cache_fraction < 1:
            raise InvalidParameterError(
                f"The 'cache_fraction' parameter of RayEngine must be a float in the range [0, 1). "
                f"Got {cache_fraction!r} instead.")
        self._address = address.strip() if address is not None else None
        self._num_cpus = num_cpus
        self._max_retries = max_retries
        self._cache_fraction = float(cache_fraction)
        self._init_options = dict(init_options or {})
        self._state = _State()
        self._finalizer = weakref.finalize(self, _release, self._state)

    @classmethod
    def from_spec(cls, spec: str) -> RayEngine:
        """Build the engine for ``"ray"``, ``"ray[N]"``, ``"ray[*]"``, ``"ray[<address>]"`` or ``"ray://host:port"``.

        ``"ray[N]"`` starts a local runtime with N CPUs (``"ray[*]"``: every core);
        ``"ray[auto]"`` or ``"ray[host:6379]"`` connects to that cluster.

        Examples
        --------
        >>> RayEngine.from_spec("ray[2]")
        RayEngine(num_cpus=2)
        >>> RayEngine.from_spec("ray://head:10001")
        RayEngine(address='ray://head:10001')
        """
        spec = spec.strip()
        if spec.startswith("ray://"):
            return cls(spec)
        match = _SPEC.match(spec)
        if match is None:
            raise UnknownEngineError(
                f"Cannot read {spec!r} as a Ray engine; write 'ray' (the running runtime, or a "
                "local one), 'ray[N]' (a local runtime with N CPUs), 'ray[auto]' or "
                "'ray://host:10001'.")
        arg = (match.group("arg") or "").strip()
        if not arg:
            return cls()
        if arg == "*":
            return cls(num_cpus=available_cores())
        if arg.lstrip("-").isdigit():
            if int(arg) < 1:
                raise InvalidParameterError(
                    f"The CPU count in {spec!r} must be an integer >= 1; for example 'ray[4]'.")
            return cls(num_cpus=int(arg))
        return cls(arg)

    @property
    def workers(self) -> int:
        """Number of tasks that run at the same time: the CPUs of the cluster."""
        state = self._connect()
        if state.cpus is None:
            state.cpus = cluster_cpus()
        return state.cpus

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        """Return ``[fn(item) for item in items]``, one Ray task per item; see :meth:`Engine.map`."""
        items = list(items)
        if not items:
            return []
        state = self._connect()
        fn_ref = put(fn)
        return MapCall(fn_ref, items, on_result, self._cache(state), self._max_retries).run()

    def broadcast(self, obj: T) -> Broadcast[T]:
        """Put ``obj`` in the object store once; each worker process loads it once."""
        self._connect()
        return RayBroadcast.put(obj)

    def start(self) -> RayEngine:
        """Connect to Ray now, starting a local runtime if none runs, and return the engine."""
        self._connect()
        return self

    def close(self) -> None:
        """Free the cached shards and shut down the runtime if bigfit initialised it (a later call
        starts again)."""
        _release(self._state)

    @property
    def spec(self) -> str:
        """The engine as :func:`~bigfit.engine.get_engine` accepts it."""
        if self._num_cpus is not None:
            return f"ray[{self._num_cpus}]"
        if self._address is None:
            return "ray"
        return self._address if self._address.startswith("ray://") else f"ray[{self._address}]"

    def __repr__(self) -> str:
        if self._num_cpus is not None:
            return f"RayEngine(num_cpus={self._num_cpus})"
        return "RayEngine()" if self._address is None else f"RayEngine(address={self._address!r})"

    def _connect(self) -> _State:
        """Make sure this process runs Ray; forget what belonged to an earlier runtime."""
        state = self._state
        if not (state.lease.held and ray.is_initialized()):
            release(state.lease)  # a runtime shut down under us (ray.shutdown())
            acquire(state.lease, self._address, self._num_cpus, self._init_options)
        job = ray.get_runtime_context().get_job_id()
        if job != state.job:
            state.job, state.cpus, state.cache = job, None, None
        return state

    def _cache(self, state: _State) -> BlockCache | None:
        if self._cache_fraction == 0:
            return None
        if state.cache is None:
            state.cache = BlockCache(int(self._cache_fraction * object_store_bytes()))
        return state.cache


def _release(state: _State) -> None:
    if state.cache is not None:
        state.cache.clear()  # drop the references before the runtime goes
    state.cache, state.cpus, state.job = None, None, None
    release(state.lease)
