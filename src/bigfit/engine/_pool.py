"""The local engine's process pool: started on first use, rebuilt when a worker dies.

Each worker process is a one-process :class:`~concurrent.futures.ProcessPoolExecutor` (a
*lane*) with its own queue, so that the driver chooses which worker runs an item:

- An item goes back to the worker that ran it last.  A shard read again from a cache in
  memory then finds its pages already mapped in that process, instead of every worker
  mapping every shard in turn (the first passes over a cache would fault each page in
  once per worker).
- Items are taken largest first (an ``nbytes`` attribute, as shards, arrays and Arrow
  tables have; others after, in their order), and a worker with nothing left of its own
  takes new items, then the smallest left to the busiest worker.  So the workers finish
  together (longest-processing-time-first list scheduling, with work stealing).

Only where and when items run changes: results keep item order.

A worker killed by a signal (SIGKILL from the OOM killer, a segfault in native code)
breaks its executor for good.  :class:`WorkerPool` then starts new workers, resubmits the
unfinished items and keeps finished results; each worker records which item it is
running, so the item that keeps killing workers is named.
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import shutil
import signal
import tempfile
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_for_sentinels
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from bigfit.engine import _worker
from bigfit.engine._spawn import WorkerContext
from bigfit.engine.base import describe_item, error_type_name, task_error
from bigfit.engine.local import available_cores
from bigfit.exceptions import EngineError

T = TypeVar("T")

# Never fork: the driver runs pyarrow's threads.  Spawn rather than forkserver: each
# worker gets the driver's environment as it is now (a forkserver keeps the one it
# started with), and no server process stays behind after close() (only
# multiprocessing's resource tracker, until exit).  Workers skip the driver's main
# module (see _spawn), so they start with the imports their tasks need.
_TERMINATE_GRACE_S = 2.0
# How long start() lets a worker wait for the others to be ready (a safety net only).
_START_TIMEOUT_S = 120.0
# Items queued in a lane at once: one running, one waiting, so a worker never waits for
# the driver between items.
_LANE_DEPTH = 2
# Items whose pickle is larger than this have no home worker (hashing them would cost).
_HOME_MAX_BYTES = 1 << 16
_MAX_HOMES = 100_000
_call_ids = itertools.count()


@dataclass(eq=False)
class _Generation:
    """One executor per worker (its lane); replaced whole when a worker dies."""

    lanes: list[ProcessPoolExecutor]
    # Each executor's own dict of its process, which it fills as it starts it: the only
    # way to learn a worker's exit code once its executor breaks.
    process_maps: list[dict[int, BaseProcess]]
    # (call id, item index, exit code) of every worker that died, once inspected.
    crashes: list[tuple[int, int, int]] | None = None

    def processes(self) -> list[BaseProcess]:
        """The worker processes started so far."""
        return [process for mapping in self.process_maps for process in list(mapping.values())]

    def shutdown(self, *, wait: bool, cancel_futures: bool = False) -> None:
        for executor in self.lanes:
            executor.shutdown(wait=wait, cancel_futures=cancel_futures)


@dataclass(eq=False)
class _Resources:
    """What a pool must release: kept apart from the pool so a finalizer can hold it."""

    generation: _Generation | None = None
    directory: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class WorkerPool:
    """``workers`` processes that run tasks; nothing starts before the first task or
    :meth:`start`.

    Parameters
    ----------
    workers : int
        Number of worker processes.
    max_retries : int
        How many times an item is run again after its worker died.
    """

    def __init__(self, workers: int, max_retries: int) -> None:
        self.workers = workers
        self.max_retries = max_retries
        self._threads = max(1, available_cores() // workers)
        self._resources = _Resources()
        # Digest of an item's pickle -> the lane that last ran it.
        self._homes: dict[int, int] = {}
        # Shut the workers down and remove the files when the pool is garbage-collected
        # or the interpreter exits, whichever comes first.
        self._finalizer = weakref.finalize(self, _release, self._resources)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any],
            on_result: Callable[[int, Any], None] | None) -> list[Any]:
        """Return ``[fn(item) for item in items]`` computed by the workers."""
        fn_ref = self.share(fn)
        try:
            return _MapCall(self, fn_ref, items, on_result).run()
        except KeyboardInterrupt:
            self.abort()
            raise
        finally:
            fn_ref.release()

    def start(self) -> None:
        """Start every worker and wait until each has loaded bigfit's data runtime."""
        ready = tempfile.mkdtemp(prefix="ready-", dir=self._directory())
        try:
            start = functools.partial(_worker.start_worker, ready, self.workers, _START_TIMEOUT_S)
            self.map(start, range(self.workers), None)
        finally:
            shutil.rmtree(ready, ignore_errors=True)

    def home(self, key: int | None) -> int | None:
        """The lane that last ran the item of digest ``key``, if any."""
        return None if key is None else self._homes.get(key)

    def remember_home(self, key: int | None, lane: int) -> None:
        """Record that ``lane`` ran the item of digest ``key`` (None: an item too large to key)."""
        if key is None:
            return
        if len(self._homes) >= _MAX_HOMES:
            self._homes.clear()
        self._homes[key] = lane

    def share(self, obj: T) -> _worker.SharedValue[T]:
        """Write ``obj`` once where every worker can load it."""
        return _worker.SharedValue.write(obj, self._directory())

    def generation(self) -> _Generation:
        """Return the running workers, starting them if there are none."""
        resources = self._resources
        with resources.lock:
            if resources.generation is None:
                resources.generation = self._start()
            return resources.generation

    def crashes(self, generation: _Generation) -> list[tuple[int, int, int]]:
        """Return ``(call id, index, exit code)`` for each worker of a broken generation
        that died by itself, and retire that generation."""
        resources = self._resources
        with resources.lock:
            if generation.crashes is None:
                # Read before the shutdown: the workers of healthy lanes then exit too.
                exit_codes = {process.pid: process.exitcode for process in generation.processes()}
                generation.shutdown(wait=True)
                generation.crashes = self._inspect(exit_codes)
                _stop(generation.processes())  # any the executors failed to stop
                self._homes.clear()  # new workers have nothing mapped
            if resources.generation is generation:
                resources.generation = None
            return generation.crashes

    def abort(self) -> None:
        """Stop every worker now (after Ctrl-C); the next task starts a new pool."""
        resources = self._resources
        with resources.lock:
            generation, resources.generation = resources.generation, None
        if generation is not None:
            _terminate(generation)

    def close(self) -> None:
        """Tell the workers to exit and remove shared files; the pool may start again.

        Returns without waiting for the workers' interpreters to tear down (a fifth of
        a second each with numba loaded); the interpreter waits for them when it exits.
        """
        _release(self._resources, wait=False)
        self._homes.clear()

    def _start(self) -> _Generation:
        markers = os.path.join(self._directory(), "workers")
        os.makedirs(markers, exist_ok=True)
        lanes = [
            ProcessPoolExecutor(
                1,
                mp_context=WorkerContext(),
                initializer=_worker.initialize,
                initargs=(self._threads, markers),
            )
            for _ in range(self.workers)
        ]
        maps = [getattr(executor, "_processes", None) for executor in lanes]
        return _Generation(lanes, [{} if mapping is None else mapping for mapping in maps])

    def _inspect(self, exit_codes: dict[int, int | None]) -> list[tuple[int, int, int]]:
        """``(call id, index, exit code)`` of the workers that had died by themselves."""
        markers = os.path.join(self._directory(), "workers")
        crashes = []
        for pid, code in exit_codes.items():
            path = os.path.join(markers, str(pid))
            call_id, index = _worker.read_marker(path)
            _worker.remove_file(path)
            if code not in (None, -signal.SIGTERM):
                crashes.append((call_id, index, code))
        return crashes

    def _directory(self) -> str:
        resources = self._resources
        if resources.directory is None:
            base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            resources.directory = tempfile.mkdtemp(prefix="bigfit-", dir=base)
        return resources.directory


class _MapCall:
    """One ``map``: feeds the lanes, collects results, resubmits after crashes."""

    def __init__(self, pool: WorkerPool, fn_ref: _worker.SharedValue[Any],
                 items: Sequence[Any], on_result: Callable[[int, Any], None] | None) -> None:
        self.pool = pool
        self.fn_ref = fn_ref
        self.items = items
        self.on_result = on_result
        self.call_id = next(_call_ids)
        self.packed = [_pack_item(index, item) for index, item in enumerate(items)]
        self.keys = [hash(packed) if len(packed) <= _HOME_MAX_BYTES else None
                     for packed in self.packed]
        self.order = _largest_first(items)
        self.results: list[Any] = [None] * len(items)
        self.todo = set(range(len(items)))
        self.deaths: Counter[int] = Counter()
        self.unexplained_breaks = 0

    def run(self) -> list[Any]:
        while self.todo:
            generation = self.pool.generation()
            if self._run_on(generation.lanes):
                self._count_deaths(self.pool.crashes(generation))
        return self.results

    def _run_on(self, lanes: list[ProcessPoolExecutor]) -> bool:
        """Run the unfinished items on ``lanes``; return whether one of them broke."""
        homes = [self.pool.home(key) for key in self.keys]
        queues = _LaneQueues([index for index in self.order if index in self.todo], homes,
                             len(lanes))
        running: dict[Future[Any], tuple[int, int]] = {}
        broken = False

        def feed(lane: int) -> None:
            nonlocal broken
            index = queues.next_for(lane)
            if index is None:
                return
            try:
                future = lanes[lane].submit(
                    _worker.run_task, self.fn_ref, self.call_id, index, self.packed[index]
                )
            except BrokenProcessPool:
                broken = True  # the item waits for the next generation
                return
            running[future] = (index, lane)

        for _ in range(_LANE_DEPTH):  # one item per lane, then a second one each
            for lane in range(len(lanes)):
                if not broken:
                    feed(lane)
        try:
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index, lane = running.pop(future)
                    error = future.exception()
                    if error is None:
                        self._record(index, future.result(), lane)
                    elif isinstance(error, BrokenProcessPool):
                        broken = True  # let the other lanes finish what they hold
                    else:
                        raise self._task_error(index, error)
                    if not broken:
                        feed(lane)
        except KeyboardInterrupt:
            # No cancelling: the pool terminates the workers, and on Python 3.11 a
            # future cancelled while the executor marks it broken kills the executor.
            raise
        except BaseException:
            for future in running:
                future.cancel()
            raise
        return broken

    def _record(self, index: int, payload: bytes, lane: int) -> None:
        try:
            result = pickle.loads(payload)
        except Exception as exc:  # e.g. a class the driver cannot import
            raise self._task_error(index, exc) from exc
        self.results[index] = result
        self.todo.discard(index)
        self.pool.remember_home(self.keys[index], lane)
        if self.on_result is not None:
            self.on_result(index, result)

    def _task_error(self, index: int, error: BaseException) -> Exception:
        item = self.items[index]
        if isinstance(error, _worker.RemoteError):
            cause = error.cause()
            new = task_error(index, item, error.error_type, error.message, cause)
        else:  # raised by the executor itself, e.g. a result that cannot be pickled
            cause = error
            new = task_error(index, item, type(error).__name__, str(error))
        new.__cause__ = cause
        return new

    def _count_deaths(self, crashes: list[tuple[int, int, int]]) -> None:
        mine = [(index, code) for call_id, index, code in crashes
                if call_id == self.call_id and index >= 0]
        if not any(index >= 0 for _, index, _ in crashes):
            self.unexplained_breaks += 1
            if self.unexplained_breaks > self.pool.max_retries:
                codes = sorted({code for *_, code in crashes})
                raise EngineError(
                    f"Worker processes keep dying outside any task (exit codes {codes}); "
                    "check the worker start-up (imports of the main module) and memory."
                )
        for index, code in mine:
            self.deaths[index] += 1
            if self.deaths[index] > self.pool.max_retries:
                raise EngineError(
                    f"Item {describe_item(self.items[index])} (task {index}) killed its "
                    f"worker process {self.deaths[index]} times (last {_exit_reason(code)}); "
                    "giving up. Check its memory use (the kernel's OOM killer sends SIGKILL) "
                    "and any native code it calls."
                )


class _LaneQueues:
    """Which item each lane runs next.

    Parameters
    ----------
    order : list of int
        The items to run, in the order to take them (largest first).
    homes : list of int or None
        For each item, the lane that ran it last, if any.
    lanes : int
        Number of lanes.
    """

    def __init__(self, order: list[int], homes: Sequence[int | None], lanes: int) -> None:
        self.own: list[deque[int]] = [deque() for _ in range(lanes)]
        self.new: deque[int] = deque()
        for index in order:
            home = homes[index]
            (self.own[home] if home is not None and home < lanes else self.new).append(index)

    def next_for(self, lane: int) -> int | None:
        """The lane's next item of its own, else a new one, else the last item of the lane
        with the most left; None when every item is taken."""
        if self.own[lane]:
            return self.own[lane].popleft()
        if self.new:
            return self.new.popleft()
        busiest = max(self.own, key=len)
        return busiest.pop() if busiest else None


def _largest_first(items: Sequence[Any]) -> list[int]:
    """Item positions by decreasing ``nbytes``; items without it keep their place after."""
    def size(index: int) -> int:
        nbytes = getattr(items[index], "nbytes", None)
        return nbytes if isinstance(nbytes, int) and not isinstance(nbytes, bool) else -1

    return sorted(range(len(items)), key=lambda index: -size(index))


def _pack_item(index: int, item: Any) -> bytes:
    try:
        return _worker.pack(item)
    except Exception as exc:  # cloudpickle raises TypeError, PicklingError, AttributeError...
        raise task_error(index, item, error_type_name(exc), f"cannot be sent to a worker: {exc}",
                         exc) from exc


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _terminate(generation: _Generation) -> None:
    """Stop every worker of ``generation`` now, then its executors."""
    _stop(generation.processes())
    generation.shutdown(wait=True)


def _stop(processes: Iterable[BaseProcess]) -> None:
    """SIGTERM the processes still running, then SIGKILL those alive after a grace period."""
    running: dict[Any, BaseProcess] = {
        process.sentinel: process for process in processes if process.exitcode is None
    }
    for process in running.values():
        process.terminate()
    deadline = time.monotonic() + _TERMINATE_GRACE_S
    while running and (left := deadline - time.monotonic()) > 0:
        for sentinel in wait_for_sentinels(list(running), left):
            del running[sentinel]
    for process in running.values():
        process.kill()  # a task may have replaced the SIGTERM handler
        process.join()


def _release(resources: _Resources, *, wait: bool = True) -> None:
    """Shut down the executor and remove the shared files (idempotent)."""
    with resources.lock:
        generation, resources.generation = resources.generation, None
        directory, resources.directory = resources.directory, None
    if generation is not None:
        generation.shutdown(wait=wait, cancel_futures=True)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)

