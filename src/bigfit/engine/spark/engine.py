"""The Spark engine: bigfit tasks as a few coarse Spark tasks, on the session users already have."""

from __future__ import annotations

import pickle
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import cloudpickle

from bigfit.engine.base import Broadcast, Engine, describe_item, error_type_name, task_error
from bigfit.engine.spark import _jobs
from bigfit.engine.spark._broadcast import SparkBroadcast
from bigfit.engine.spark._session import SessionState, acquire, is_alive, release
from bigfit.exceptions import EngineError, InvalidParameterError, UnknownEngineError

T = TypeVar("T")
R = TypeVar("R")

_SPEC = re.compile(r"^spark(?:\[(?P<master>.+)\])?$")


class SparkEngine(Engine):
    """Run tasks on Spark executors: on the running SparkSession, or on one bigfit starts.

    Parameters
    ----------
    session : pyspark.sql.SparkSession, optional
        A session to run on.  It stays the caller's: bigfit never stops it.
    master : str, optional
        Without ``session``: the master URL of the session to start when none runs in
        this process (``"local[4]"``, ``"local[4,3]"``, ``"spark://host:7077"``, ``"yarn"``,
        ``"k8s://https://host:443"``).  By default the running session is used, else one
        is started on ``"local[*]"``.
    config : mapping of str to str, optional
        Spark settings for a session bigfit starts (``{"spark.executor.memory": "8g"}``).
    app_name : str, default "bigfit"
        The application name of a session bigfit starts.

    Notes
    -----
    - **Coarse tasks.** A Spark task costs tens of milliseconds, so :meth:`map` runs
      one task per executor slot (``defaultParallelism``), each running its share of
      the items in order; :attr:`workers` is that number of slots.  Spark reuses its
      Python workers (``spark.python.worker.reuse``, on by default), so what a worker
      loaded (broadcasts, per-process state) stays loaded between iterations.
    - **Files and the cache.** Shards are read by bigfit's reader where the task runs,
      so executors need the data's paths or URLs (shared storage, ``s3://``, ``hdfs://``).
      With ``Dataset.cache()`` (estimators use it by default) decoded shards are kept
      in a directory resolved in the driver: in local mode every worker shares it, and
      on a cluster each executor machine keeps its own copy of the shards it read under
      that path (``/dev/shm`` for a memory cache, so size it; prefer
      ``cache("disk")`` or a local path on clusters).  A shard read on another machine
      in a later iteration is decoded there again.
    - **Spark DataFrames.** ``Dataset(spark_df, target="y")`` is never collected to the
      driver: its partitions are its shards, and a map over them runs as one Spark job
      over the DataFrame (``mapInArrow``), each task streaming its partition's Arrow
      batches into bigfit's batch conversion.  The DataFrame is computed again for each
      pass: persist it (``df.cache()``, ``df.localCheckpoint()``) before fitting.
      Algorithms that read several shards in one task (the SGD solvers' parameter
      mixing) need the data in files.
    - **Faults.** A task whose Python worker dies (killed, out of memory) is run again
      by Spark, up to ``spark.task.maxFailures`` attempts; the job then ends with the
      same result.  Spark's ``local[N]`` master never retries: use ``local[N,F]`` (for
      example ``local[4,4]``) to get ``F`` attempts per task in local mode.  An error
      raised by a task is not retried: it is raised in the driver naming the item.
    - **Shutdown.** A session bigfit started is stopped by :meth:`close`, when the
      engine is garbage-collected, or at interpreter exit, together with the JVM when
      bigfit launched it; a session the caller owns is never stopped.
    - Executors need bigfit installed (``pip install 'bigfit[spark]'``) and the same
      Python version as the driver.

    Examples
    --------
    >>> engine = SparkEngine(master="local[2]")  # doctest: +SKIP
    >>> engine.map(lambda x: x * x, [1, 2, 3])  # doctest: +SKIP
    [1, 4, 9]
    >>> engine.close()  # doctest: +SKIP
    """

    name = "spark"

    def __init__(self, session: Any = None, *, master: str | None = None,
                 config: Mapping[str, str] | None = None, app_name: str = "bigfit") -> None:
        if session is not None and master is not None:
            raise InvalidParameterError(
                "Pass either a SparkSession or a master URL to SparkEngine, not both.")
        if session is not None and not hasattr(session, "sparkContext"):
            raise InvalidParameterError(
                f"The 'session' parameter of SparkEngine must be a pyspark SparkSession. Got "
                f"{type(session).__name__} instead.")
        if master is not None and (not isinstance(master, str) or not master.strip()):
            raise InvalidParameterError(
                f"The 'master' parameter of SparkEngine must be a master URL such as 'local[4]'. "
                f"Got {master!r} instead.")
        self._given = session
        self._master = master.strip() if master is not None else None
        self._config = {str(k): str(v) for k, v in (config or {}).items()}
        self._app_name = app_name
        self._state = SessionState()
        self._slots: int | None = None
        # Stop a session bigfit started when the engine is dropped or the interpreter exits.
        self._finalizer = weakref.finalize(self, release, self._state)

    @classmethod
    def from_spec(cls, spec: str) -> SparkEngine:
        """Build the engine for ``"spark"``, ``"spark[<master URL>]"`` or ``"spark://host:port"``.

        Examples
        --------
        >>> SparkEngine.from_spec("spark[local[2,4]]")
        SparkEngine(master='local[2,4]')
        >>> SparkEngine.from_spec("spark://head:7077")
        SparkEngine(master='spark://head:7077')
        """
        spec = spec.strip()
        if spec.startswith("spark://"):
            return cls(master=spec)
        match = _SPEC.match(spec)
        master = match.group("master") if match is not None else None
        if match is None or (master is not None and master.count("[") != master.count("]")):
            raise UnknownEngineError(
                f"Cannot read {spec!r} as a Spark engine; write 'spark' (the running session, or "
                "local[*]), 'spark[<master URL>]' such as 'spark[local[4]]' or 'spark[yarn]', or "
                "'spark://host:7077'.")
        return cls(master=master)

    @property
    def session(self) -> Any:
        """The SparkSession tasks run on; started (or found) on first use."""
        state = self._state
        if state.session is not None and is_alive(state.session):
            return state.session
        if self._given is not None:
            if not is_alive(self._given):
                raise EngineError("The SparkSession given to SparkEngine has been stopped.")
            state.session = self._given
        else:
            release(state)
            fresh = acquire(self._master, self._app_name, self._config)
            state.session, state.owned, state.owns_jvm = fresh.session, fresh.owned, fresh.owns_jvm
        self._slots = None
        return state.session

    @property
    def workers(self) -> int:
        """Tasks that run at the same time: the session's executor slots."""
        session = self.session
        if self._slots is None:
            context = session.sparkContext
            cpus = int(context.getConf().get("spark.task.cpus", "1"))
            self._slots = max(1, context.defaultParallelism // max(cpus, 1))
        return self._slots

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        """Return ``[fn(item) for item in items]``; see :meth:`Engine.map`.

        Items run in one coarse task per executor slot, or, for shards of a Spark
        DataFrame, in the task of their partition.  ``on_result`` is called in item
        order once the job has finished.
        """
        items = list(items)
        if not items:
            return []
        context = self.session.sparkContext
        frame = _jobs.frame_of(items)
        fn_bytes = _dumps_function(fn)  # also registers the broadcasts fn refers to with pyspark
        item_bytes = [_dumps_item(index, item) for index, item in enumerate(items)]
        if frame is not None:
            outcomes = _jobs.run_over_frame(context, frame[0], frame[1], fn_bytes, item_bytes)
        else:
            outcomes = _jobs.run_in_groups(context, fn_bytes, item_bytes, self.workers)
        return _jobs.results(items, outcomes, on_result)

    def broadcast(self, obj: T) -> Broadcast[T]:
        """Ship ``obj`` to the executors once with ``SparkContext.broadcast``.

        Each Python worker loads it on first use and keeps it while Spark reuses the worker.
        """
        return SparkBroadcast.create(self.session.sparkContext, obj)

    def start(self) -> SparkEngine:
        """Find or start the session now and return the engine; Spark starts its Python
        workers with the first job."""
        _ = self.session
        return self

    def close(self) -> None:
        """Stop the session (and its JVM) if bigfit started them; a later call starts again."""
        release(self._state)
        self._slots = None

    def __deepcopy__(self, memo: dict[int, Any]) -> SparkEngine:
        # A handle on a session, like a connection: copies (scikit-learn's clone) share it.
        return self

    @property
    def spec(self) -> str:
        """``"spark"``, or ``"spark[<master>]"`` for a given master."""
        if self._master is None:
            return "spark"
        return self._master if self._master.startswith("spark://") else f"spark[{self._master}]"

    def __repr__(self) -> str:
        return "SparkEngine()" if self._master is None else f"SparkEngine(master={self._master!r})"


def _dumps_function(fn: Callable[..., Any]) -> bytes:
    try:
        return cloudpickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # cloudpickle raises TypeError, PicklingError, AttributeError...
        raise EngineError(
            f"Cannot send {describe_item(fn)} to Spark workers: cloudpickle failed with "
            f"{error_type_name(exc)}: {exc}. Build such objects inside the task instead.") from exc


def _dumps_item(index: int, item: Any) -> bytes:
    try:
        return cloudpickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an item that cannot travel fails as its task would
        raise task_error(index, item, error_type_name(exc), str(exc), exc) from exc
