"""The local engine: tasks in this process, or on a pool of worker processes."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from bigfit.engine.base import Broadcast, Engine, error_type_name, task_error
from bigfit.exceptions import InvalidParameterError, UnknownEngineError

if TYPE_CHECKING:
    from bigfit.engine._pool import WorkerPool

T = TypeVar("T")
R = TypeVar("R")

_SPEC = re.compile(r"^local(?:\[(?P<workers>[^\]]*)\])?$")


class LocalEngine(Engine):
    """Run tasks on this machine.

    Parameters
    ----------
    workers : int or None, default None
        ``None`` runs every task in the calling process, one after another, with no
        overhead (``workers`` is then 1).  An integer ``N >= 1`` runs tasks on ``N``
        worker processes, started on first use (or by :meth:`start`) and reused until
        :meth:`close`.
    max_retries : int, default 3
        How many times an item is run again after its worker process died (killed by
        a signal, out of memory); then :class:`~bigfit.exceptions.EngineError` names it.

    Notes
    -----
    Worker processes start with the ``spawn`` method (never ``fork``: the driver may
    run pyarrow threads) and, unlike plain multiprocessing, do not run the driver's main
    module: a script needs no ``if __name__ == "__main__":`` guard, and each worker
    imports only what its tasks use.  Functions, items and results travel with
    cloudpickle (lambdas, closures and classes defined in the script work).  Workers
    ignore Ctrl-C (the driver stops them on ``KeyboardInterrupt``) and cap native
    threads to ``cores // workers`` each.

    Examples
    --------
    >>> with LocalEngine() as engine:
    ...     engine.map(lambda x: x * x, [1, 2, 3])
    [1, 4, 9]
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, max_retries: int = 3) -> None:
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise InvalidParameterError(
                f"The 'workers' parameter of LocalEngine must be None or an int >= 1. "
                f"Got {workers!r} instead."
            )
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise InvalidParameterError(
                f"The 'max_retries' parameter of LocalEngine must be an int >= 0. "
                f"Got {max_retries!r} instead."
            )
        self._workers = workers
        self._max_retries = max_retries
        self._pool: WorkerPool | None = None

    @classmethod
    def from_spec(cls, spec: str) -> LocalEngine:
        """Build the engine for ``"local"``, ``"local[N]"`` or ``"local[*]"`` (all cores).

        Examples
        --------
        >>> LocalEngine.from_spec("local[2]")
        LocalEngine(workers=2)
        """
        match = _SPEC.match(spec.strip())
        if match is None:
            raise UnknownEngineError(
                f"Cannot read {spec!r} as a local engine; write 'local', 'local[N]' or 'local[*]'."
            )
        count = match.group("workers")
        if count is None:
            return cls()
        if count.strip() == "*":
            return cls(available_cores())
        if not count.strip().isdigit() or int(count) < 1:
            raise InvalidParameterError(
                f"The worker count in {spec!r} must be an integer >= 1 or '*' (all cores); "
                f"for example 'local[4]'. Got {count!r}."
            )
        return cls(int(count))

    @property
    def workers(self) -> int:
        """Number of tasks that run at the same time (1 when in-process)."""
        return 1 if self._workers is None else self._workers

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        """Return ``[fn(item) for item in items]``; see :meth:`Engine.map`."""
        items = list(items)
        if not items:
            return []
        if self._workers is None:
            return _run_here(fn, items, on_result)
        return self._get_pool().map(fn, items, on_result)

    def broadcast(self, obj: T) -> Broadcast[T]:
        """Ship ``obj`` to the workers once; see :meth:`Engine.broadcast`.

        With worker processes the object is serialised once to a file (in
        ``/dev/shm`` when it exists); each worker loads it on first use and caches it.
        numpy arrays of 1 MiB or more are shared as read-only memory maps.
        """
        if self._workers is None:
            return Broadcast(obj)
        return self._get_pool().share(obj)

    def start(self) -> LocalEngine:
        """Get ready to run bigfit's passes over data at full speed, and return the engine.

        With worker processes, starts every worker and waits until each has imported
        bigfit's data layer and loaded its compiled loops (numba), about 0.7 s of
        CPU per process; otherwise does the same in this process.

        Examples
        --------
        >>> with LocalEngine(2).start() as engine:
        ...     engine.map(abs, [-1, 2])
        [1, 2]
        """
        if self._workers is None:
            from bigfit.data._warm import warm_up  # the engine layer sits above data

            warm_up()
        else:
            self._get_pool().start()
        return self

    def close(self) -> None:
        """Stop the worker processes and remove broadcast files (a later call restarts).

        Returns once the workers are told to exit, while their interpreters tear down;
        the interpreter waits for them when it exits.
        """
        if self._pool is not None:
            self._pool.close()

    @property
    def spec(self) -> str:
        """``"local"`` in-process, ``"local[N]"`` with N worker processes."""
        return "local" if self._workers is None else f"local[{self._workers}]"

    def __repr__(self) -> str:
        if self._workers is None:
            return "LocalEngine()"
        return f"LocalEngine(workers={self._workers})"

    def _get_pool(self) -> WorkerPool:
        if self._pool is None:
            from bigfit.engine._pool import WorkerPool

            self._pool = WorkerPool(self.workers, self._max_retries)
        return self._pool


def _run_here(
    fn: Callable[[T], R], items: list[T], on_result: Callable[[int, R], None] | None
) -> list[R]:
    results = []
    for index, item in enumerate(items):
        try:
            result = fn(item)
        except Exception as exc:
            raise task_error(index, item, error_type_name(exc), str(exc), exc) from exc
        if on_result is not None:
            on_result(index, result)
        results.append(result)
    return results


def available_cores() -> int:
    """Return the number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
