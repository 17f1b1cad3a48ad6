"""A ``spawn`` start method whose children do not run the driver's main module.

multiprocessing's spawn makes every child import the parent's ``__main__`` script (as
``__mp_main__``) so that objects pickled by reference to it resolve.  The pool's workers do
not need that: functions travel with cloudpickle, which sends ``__main__`` functions and
classes by value, and items and results travel the same way.  Skipping it saves each
worker the script's imports (scikit-learn alone takes about a second of CPU on two busy
cores) and lets a script without an ``if __name__ == "__main__":`` guard use a pool.

The one hook multiprocessing offers is ``spawn.get_preparation_data``, which every spawn
launcher calls to describe the child; :func:`_preparation_data` wraps it once and drops the
main module only for launches from :class:`WorkerContext`, flagged per thread, so other
users of multiprocessing in the same process see no change.  Should a future Python stop
calling that hook, workers import the main module again: slower, never wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from multiprocessing import spawn
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

_MAIN_KEYS = ("init_main_from_name", "init_main_from_path")
_launching = threading.local()


class _WorkerProcess(SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        _launching.without_main = True
        try:
            return SpawnProcess._Popen(process_obj)
        finally:
            _launching.without_main = False


class WorkerContext(SpawnContext):
    """The ``spawn`` context, for processes that need nothing from ``__main__``."""

    Process = _WorkerProcess


def _wrap(original: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    def _preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        if getattr(_launching, "without_main", False):
            for key in _MAIN_KEYS:
                data.pop(key, None)
        return data

    _preparation_data.__wrapped__ = original  # type: ignore[attr-defined]
    return _preparation_data


if not hasattr(spawn.get_preparation_data, "__wrapped__"):  # once, even if reloaded
    spawn.get_preparation_data = _wrap(spawn.get_preparation_data)
