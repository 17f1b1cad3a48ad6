"""Where bigfit runs work: in-process, a local process pool, or a cluster.

Pick an engine by name with :func:`get_engine` (``"local"``, ``"local[4]"``,
``"local[*]"``); algorithms only call the :class:`Engine` methods.
"""

from __future__ import annotations

from bigfit.engine.base import Broadcast, Engine, tree_combine
from bigfit.engine.local import LocalEngine
from bigfit.engine.registry import available_engines, get_engine, register_engine, running_engine

__all__ = [
    "Broadcast",
    "Engine",
    "LocalEngine",
    "available_engines",
    "get_engine",
    "register_engine",
    "running_engine",
    "tree_combine",
]
