"""What runs inside the local engine's worker processes.

- :func:`initialize` prepares a fresh worker (signals, thread caps, crash marker);
- :func:`run_task` runs one task and reports failures as plain, always-picklable data;
- :func:`start_worker` readies a worker ahead of the first task (``engine.start()``);
- :class:`SharedValue` is the handle of a value written once to a file (a broadcast,
  or the function of one ``map`` call) that each worker loads once and caches.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import struct
import sys
import time
import traceback
import uuid
import weakref
from collections import OrderedDict
from typing import Any, TypeVar, cast

import cloudpickle

from bigfit.engine.base import Broadcast, describe_item, error_type_name
from bigfit.exceptions import EngineError

T = TypeVar("T")

logger = logging.getLogger("bigfit.engine.local")

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Crash marker of this worker: (call id, item index) of the running task, or IDLE.
_MARKER = struct.Struct("<qq")
IDLE = (-1, -1)
_IDLE_BYTES = _MARKER.pack(*IDLE)
# Arrays at least this large are shared as memory-mapped .npy files: every worker
# maps the same pages instead of holding its own copy.
_MMAP_MIN_BYTES = 1 << 20
_CACHE_ENTRIES = 8

_cache: OrderedDict[str, Any] = OrderedDict()
_marker_fd: int | None = None


def initialize(threads: int, marker_dir: str) -> None:
    """Prepare a new worker process; run once by the pool in every worker.

    Parameters
    ----------
    threads : int
        Threads each native library may use, so that N workers share the cores
        instead of each starting a thread per core.
    marker_dir : str
        Folder where the worker records which task it runs, so that the driver can
        tell which item was running when a worker died.
    """
    # Ctrl-C reaches the whole process group; the driver decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in _THREAD_VARS:
        # Arrow also sizes its CPU pool from OMP_NUM_THREADS when imported later.
        os.environ[name] = str(threads)
    _limit_loaded_libraries(threads)
    global _marker_fd
    path = os.path.join(marker_dir, str(os.getpid()))
    _marker_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.pwrite(_marker_fd, _IDLE_BYTES, 0)


def _limit_loaded_libraries(threads: int) -> None:
    """Cap libraries that the main module imported before :func:`initialize` ran."""
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.set_cpu_count(threads)
    if "numpy" not in sys.modules:
        return  # BLAS will read the environment variables when numpy loads
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        logger.debug("numpy was loaded before the worker started and threadpoolctl is "
                     "not installed: BLAS threads are not capped in worker %d", os.getpid())
        return
    threadpool_limits(limits=threads)


def start_worker(ready_dir: str, workers: int, timeout: float, _index: int) -> int:
    """Task of :meth:`WorkerPool.start`: load bigfit's data runtime, then wait until
    all ``workers`` workers have done so (or ``timeout`` seconds have passed); return
    the pid.

    Waiting keeps this worker busy, so that each of the ``workers`` tasks runs in a
    worker of its own.
    """
    from bigfit.data._warm import warm_up  # the engine layer sits above data

    warm_up()
    arrive_and_wait(ready_dir, workers, timeout)
    return os.getpid()


def arrive_and_wait(folder: str, processes: int, timeout: float) -> None:
    """A barrier between processes: mark this one as arrived in ``folder``, then wait
    until ``processes`` have (or ``timeout`` seconds have passed)."""
    with open(os.path.join(folder, str(os.getpid())), "wb"):
        pass
    deadline = time.monotonic() + timeout
    while len(os.listdir(folder)) < processes and time.monotonic() < deadline:
        time.sleep(0.002)


def read_marker(path: str) -> tuple[int, int]:
    """Return ``(call id, index)`` of the task a worker was running, or :data:`IDLE`."""
    try:
        with open(path, "rb") as file:
            data = file.read(_MARKER.size)
    except FileNotFoundError:
        return IDLE
    if len(data) != _MARKER.size:
        return IDLE
    return _MARKER.unpack(data)


def pack(obj: Any) -> bytes:
    """Serialise an item or a result with cloudpickle.

    Workers do not import the driver's main module (:mod:`bigfit.engine._spawn`), so
    objects of classes defined there must travel by value, as cloudpickle sends them.
    """
    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def run_task(fn: SharedValue[Any], call_id: int, index: int, item: bytes) -> bytes:
    """Run ``fn.value(item)`` in a worker on an item from :func:`pack`; return the result
    packed the same way, or raise :class:`RemoteError` if anything fails."""
    if _marker_fd is not None:
        os.pwrite(_marker_fd, _MARKER.pack(call_id, index), 0)
    try:
        return pack(fn.value(pickle.loads(item)))
    except Exception as exc:
        raise RemoteError.capture(exc) from None
    finally:
        if _marker_fd is not None:
            os.pwrite(_marker_fd, _IDLE_BYTES, 0)


class RemoteTraceback(Exception):
    """The formatted traceback of an error raised in a worker process."""

    def __str__(self) -> str:
        return f"\n\n{self.args[0]}"


class RemoteError(Exception):
    """A task's exception, sent back to the driver as text (and the original if it pickles).

    The pool cannot rely on pickling arbitrary exceptions: one that pickles but does
    not unpickle would break the whole pool instead of failing one task.
    """

    def __init__(self, error_type: str, message: str, remote_traceback: str,
                 original: bytes | None = None) -> None:
        super().__init__(error_type, message, remote_traceback, original)
        self.error_type = error_type
        self.message = message
        self.remote_traceback = remote_traceback
        self.original = original

    @classmethod
    def capture(cls, exc: BaseException) -> RemoteError:
        """Describe ``exc``, keeping a pickled copy when it survives a round trip."""
        text = "".join(traceback.format_exception(exc))
        original: bytes | None
        try:
            data = pickle.dumps(exc)
            pickle.loads(data)
        except Exception:  # any failure only means the text travels alone
            original = None
        else:
            original = data
        return cls(error_type_name(exc), str(exc), text, original)

    def cause(self) -> BaseException:
        """Return the original exception if it could be sent, else ``self``, chained
        to the remote traceback."""
        error: BaseException = self
        if self.original is not None:
            try:
                error = pickle.loads(self.original)
            except Exception:  # e.g. the driver cannot import the error's module
                error = self
        error.__cause__ = RemoteTraceback(self.remote_traceback)
        return error

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


class SharedValue(Broadcast[T]):
    """A value written once to a file; each worker process loads it once and caches it.

    Pickles as ``(key, path, kind)`` only.  The handle created by :meth:`write` owns
    the file and removes it when released, garbage-collected, or at exit.
    """

    def __init__(self, key: str, path: str, kind: str) -> None:
        self._key = key
        self._path = path
        self._kind = kind
        self._local: list[T] = []  # the object itself, in the process that wrote it
        self._remove: weakref.finalize[Any, Any] | None = None

    @classmethod
    def write(cls, obj: T, directory: str) -> SharedValue[T]:
        """Serialise ``obj`` into ``directory`` and return the owning handle."""
        key = uuid.uuid4().hex
        if _is_plain_array(obj):
            import numpy as np

            path = os.path.join(directory, f"{key}.npy")
            np.save(path, cast(Any, obj), allow_pickle=False)
            kind = "npy"
        else:
            path = os.path.join(directory, f"{key}.pkl")
            _write_pickle(obj, path)
            kind = "pickle"
        handle = cls(key, path, kind)
        handle._local.append(obj)
        handle._remove = weakref.finalize(handle, remove_file, path)
        return handle

    @property
    def value(self) -> T:
        """The shared object (a read-only memory map for large numpy arrays)."""
        if self._local:
            return self._local[0]
        return cast(T, _load(self._key, self._path, self._kind))

    @property
    def path(self) -> str:
        """The file that holds the value."""
        return self._path

    def release(self) -> None:
        """Remove the file now; tasks that still need the value will fail."""
        if self._remove is not None:
            self._remove()

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedValue, (self._key, self._path, self._kind))

    def __repr__(self) -> str:
        return f"SharedValue({self._key!r}, kind={self._kind!r})"


def _is_plain_array(obj: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return (
        numpy is not None
        and type(obj) in (numpy.ndarray, numpy.memmap)
        and not obj.dtype.hasobject
        and obj.nbytes >= _MMAP_MIN_BYTES
    )


def _write_pickle(obj: Any, path: str) -> None:
    try:
        data = pack(obj)
    except Exception as exc:  # cloudpickle raises TypeError, PicklingError, AttributeError...
        raise EngineError(
            f"Cannot send {describe_item(obj)} to worker processes: cloudpickle failed with "
            f"{error_type_name(exc)}: {exc}. Build such objects inside the task instead."
        ) from exc
    with open(path, "wb") as file:
        file.write(data)


def _load(key: str, path: str, kind: str) -> Any:
    """Return the cached value of ``key``, reading ``path`` on first use."""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    try:
        if kind == "npy":
            import numpy as np

            value = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with open(path, "rb") as file:
                value = pickle.load(file)
    except FileNotFoundError:
        raise EngineError(
            f"The shared value {key} is gone ({path}): its engine was closed or the "
            "broadcast handle released before the task read it."
        ) from None
    _cache[key] = value
    if len(_cache) > _CACHE_ENTRIES:
        _cache.popitem(last=False)
    return value


def remove_file(path: str) -> None:
    """Remove ``path`` if it still exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return  # already removed with the engine's folder
