"""Connecting this process to Ray, and disconnecting only what bigfit connected.

A process has at most one Ray runtime (``ray.init`` once).  Several engines may share
it: one initialised by the user is never shut down by bigfit; one bigfit initialised
is shut down when the last engine holding it is closed, garbage-collected, or at
interpreter exit.  Shutting down a connection to a cluster bigfit did not start only
disconnects this driver: the cluster keeps running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ray

from bigfit.exceptions import EngineError

logger = logging.getLogger("bigfit.engine.ray")

_lock = threading.Lock()
_holders = 0  # engines holding a runtime that bigfit initialised (0: none, or the user's)


@dataclass
class Lease:
    """One engine's hold on the process's Ray runtime."""

    held: bool = False  # counts in _holders: released by release()


def acquire(lease: Lease, address: str | None, num_cpus: int | None,
            options: Mapping[str, Any]) -> None:
    """Connect this process to Ray unless it is already, recording bigfit's share in ``lease``.

    Parameters
    ----------
    lease : Lease
        The engine's lease; it must not hold the runtime already.
    address : str or None
        ``None``: the runtime already initialised in this process, else ``ray.init()``'s
        own search (``RAY_ADDRESS``, then a cluster started on this machine with
        ``ray start``, else a new local runtime).  ``"local"`` with ``num_cpus``: a new
        local runtime.  ``"auto"``, ``"host:port"`` or ``"ray://host:port"``: that cluster.
    num_cpus : int or None
        CPUs of a new local runtime.
    options : mapping
        More ``ray.init`` arguments (``object_store_memory``, ``runtime_env``...).
    """
    global _holders
    with _lock:
        if ray.is_initialized():
            if address is not None and _holders == 0:
                raise EngineError(
                    f"This process is already connected to Ray, so bigfit cannot start or connect "
                    f"to {address!r} (one runtime per process). Use engine='ray' to run on the "
                    "running one, or call ray.shutdown() first.")
            if _holders == 0:
                return  # the user's runtime: theirs to shut down
        else:
            kwargs = {"include_dashboard": False, **options}
            if num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as exc:
                raise EngineError(
                    f"Cannot connect to the Ray cluster at {address!r}: {exc}. Check the address "
                    "(the head node's client port, 10001 by default, for ray://) and that the "
                    "cluster runs the same Ray and Python versions.") from exc
            logger.info("Connected to Ray (%s)", address or "new or running local runtime")
        _holders += 1
        lease.held = True


def release(lease: Lease) -> None:
    """Give up ``lease``; the last holder of a runtime bigfit initialised shuts it down."""
    global _holders
    with _lock:
        if not lease.held:
            return
        lease.held = False
        _holders -= 1
        if _holders == 0 and ray.is_initialized():
            ray.shutdown()


def cluster_cpus() -> int:
    """Return the number of CPUs in the cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def object_store_bytes() -> int:
    """Return the object store memory of the whole cluster, in bytes."""
    return int(ray.cluster_resources().get("object_store_memory", 0))
