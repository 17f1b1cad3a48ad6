"""Broadcasts on Ray: a value put once in the object store, loaded once per worker process."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar, cast

import ray

from bigfit.engine.base import Broadcast, describe_item, error_type_name
from bigfit.exceptions import EngineError

T = TypeVar("T")

# Values this worker process has loaded, by object id; a few are kept, the oldest dropped
# (an L-BFGS run broadcasts a new state each iteration).
_CACHE_ENTRIES = 8
_loaded: OrderedDict[bytes, Any] = OrderedDict()


class RayBroadcast(Broadcast[T]):
    """A value put in Ray's object store with ``ray.put``; read it with :attr:`value`.

    In the driver the handle holds the object itself.  It pickles as its ``ObjectRef``
    only, so a task's arguments stay small; a worker process fetches the value on first
    use (numpy arrays are read-only views of the object store's shared memory, not
    copies) and keeps it while later tasks need it.  The object is freed once the
    driver's handle and the tasks that borrowed it are gone.
    """

    def __init__(self, ref: ray.ObjectRef, local: list[T]) -> None:
        self._ref = ref
        self._local = local

    @classmethod
    def put(cls, obj: T) -> RayBroadcast[T]:
        """Put ``obj`` in the object store and return the driver's handle."""
        return cls(put(obj), [obj])

    @property
    def ref(self) -> ray.ObjectRef:
        """The object's reference in the object store."""
        return self._ref

    @property
    def value(self) -> T:
        """The broadcast object."""
        if self._local:
            return self._local[0]
        key = self._ref.binary()
        if key in _loaded:
            _loaded.move_to_end(key)
        else:
            _loaded[key] = ray.get(self._ref)
            if len(_loaded) > _CACHE_ENTRIES:
                _loaded.popitem(last=False)
        return cast(T, _loaded[key])

    def __reduce__(self) -> tuple[Any, ...]:
        return (RayBroadcast, (self._ref, []))

    def __repr__(self) -> str:
        return f"RayBroadcast({self._ref.hex()[:16]})"


def put(obj: Any) -> ray.ObjectRef:
    """``ray.put(obj)``, with an error that names what could not be serialised.

    Raises
    ------
    EngineError
        ``obj`` cannot be serialised (a lock, an open file...).
    """
    try:
        return ray.put(obj)
    except Exception as exc:  # cloudpickle raises TypeError, PicklingError, AttributeError...
        raise EngineError(
            f"Cannot send {describe_item(obj)} to Ray workers: serialising it failed with "
            f"{error_type_name(exc)}: {exc}. Build such objects inside the task instead.") from exc
