"""The local engine's process pool: started on first use, rebuilt when a worker dies.

A worker killed by a signal (SIGKILL from the OOM killer, a segfault in native code)
breaks a :class:`~concurrent.futures.ProcessPoolExecutor` for good.  :class:`WorkerPool`
starts a new executor, resubmits the unfinished items and keeps finished results; each
worker records which item it is running, so the item that keeps killing workers is named.

Items that tell their size (an ``nbytes`` attribute, as shards, arrays and Arrow tables
do) are submitted largest first: each worker takes the next item as it frees up, so the
small ones left at the end even out the workers' finishing times (longest-processing-
time-first list scheduling).  Only the order of work changes: results keep item order.
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
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
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
_call_ids = itertools.count()


@dataclass(eq=False)
class _Generation:
    """One executor and its worker processes; replaced whole when a worker dies."""

    executor: ProcessPoolExecutor
    processes: dict[int, BaseProcess]
    # (call id, item index, exit code) of every worker that died, once inspected.
    crashes: list[tuple[int, int, int]] | None = None


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

    def share(self, obj: T) -> _worker.SharedValue[T]:
        """Write ``obj`` once where every worker can load it."""
        return _worker.SharedValue.write(obj, self._directory())

    def generation(self) -> _Generation:
        """Return the running executor, starting one if there is none."""
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
                generation.executor.shutdown(wait=True)
                generation.crashes = self._inspect(generation)
                _stop(generation.processes.values())  # any the executor failed to stop
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

    def _start(self) -> _Generation:
        markers = os.path.join(self._directory(), "workers")
        os.makedirs(markers, exist_ok=True)
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=WorkerContext(),
            initializer=_worker.initialize,
            initargs=(self._threads, markers),
        )
        # The executor fills this dict as it starts workers; it is the only way to
        # learn their exit codes once the executor breaks.
        processes = getattr(executor, "_processes", None)
        return _Generation(executor, {} if processes is None else processes)

    def _inspect(self, generation: _Generation) -> list[tuple[int, int, int]]:
        markers = os.path.join(self._directory(), "workers")
        crashes = []
        for pid, process in list(generation.processes.items()):
            path = os.path.join(markers, str(pid))
            call_id, index = _worker.read_marker(path)
            _worker.remove_file(path)
            # The executor terminates the surviving workers with SIGTERM once one dies.
            if process.exitcode not in (None, -signal.SIGTERM):
                crashes.append((call_id, index, process.exitcode))
        return crashes

    def _directory(self) -> str:
        resources = self._resources
        if resources.directory is None:
            base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            resources.directory = tempfile.mkdtemp(prefix="bigfit-", dir=base)
        return resources.directory


class _MapCall:
    """One ``map``: submits unfinished items, collects results, resubmits after crashes."""

    def __init__(self, pool: WorkerPool, fn_ref: _worker.SharedValue[Any],
                 items: Sequence[Any], on_result: Callable[[int, Any], None] | None) -> None:
        self.pool = pool
        self.fn_ref = fn_ref
        self.items = items
        self.on_result = on_result
        self.call_id = next(_call_ids)
        self.packed = [_pack_item(index, item) for index, item in enumerate(items)]
        self.order = _largest_first(items)
        self.results: list[Any] = [None] * len(items)
        self.todo = set(range(len(items)))
        self.deaths: Counter[int] = Counter()
        self.unexplained_breaks = 0

    def run(self) -> list[Any]:
        while self.todo:
            generation = self.pool.generation()
            futures = self._submit(generation.executor)
            try:
                broken = self._collect(futures)
            except KeyboardInterrupt:
                # No cancelling: the pool terminates the workers, and on Python 3.11 a
                # future cancelled while the executor marks it broken kills the executor.
                raise
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            if broken:
                self._count_deaths(self.pool.crashes(generation))
        return self.results

    def _submit(self, executor: ProcessPoolExecutor) -> dict[Future[Any], int]:
        futures: dict[Future[Any], int] = {}
        for index in (index for index in self.order if index in self.todo):
            try:
                future = executor.submit(
                    _worker.run_task, self.fn_ref, self.call_id, index, self.packed[index]
                )
            except BrokenProcessPool:
                break  # collect what was submitted; the rest waits for the next pool
            futures[future] = index
        if not futures:  # broke before the first submit: force an inspection
            futures[_broken_future()] = -1
        return futures

    def _collect(self, futures: dict[Future[Any], int]) -> bool:
        """Record results as they arrive; return whether the pool broke."""
        broken = False
        for future in as_completed(futures):
            index = futures[future]
            error = future.exception()
            if error is None:
                try:
                    result = pickle.loads(future.result())
                except Exception as exc:  # e.g. a class the driver cannot import
                    raise self._task_error(index, exc) from exc
                self.results[index] = result
                self.todo.discard(index)
                if self.on_result is not None:
                    self.on_result(index, result)
            elif isinstance(error, BrokenProcessPool):
                broken = True
            else:
                raise self._task_error(index, error)
        return broken

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


def _broken_future() -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(BrokenProcessPool("the pool broke before any task was submitted"))
    return future


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _terminate(generation: _Generation) -> None:
    """Stop every worker of ``generation`` now, then its executor."""
    _stop(generation.processes.values())
    generation.executor.shutdown(wait=True)


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
        generation.executor.shutdown(wait=wait, cancel_futures=True)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)

