"""Broadcasts on Spark: a value sent once to each executor, loaded once per Python worker."""

from __future__ import annotations

import logging
import pickle
import weakref
from typing import Any, TypeVar

import cloudpickle

from bigfit.engine.base import Broadcast, describe_item, error_type_name
from bigfit.exceptions import EngineError

T = TypeVar("T")

logger = logging.getLogger("bigfit.engine.spark")


class _Pickled:
    """Bytes that pickle (with plain pickle, as Spark broadcasts do) into the object they hold."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (pickle.loads, (self.data,))


class SparkBroadcast(Broadcast[T]):
    """A value shipped with ``SparkContext.broadcast``; read it with :attr:`value`.

    In the driver the handle holds the object itself.  It pickles as pyspark's own
    broadcast reference, which also tells pyspark to ship the value with the job; a
    Python worker loads the value on first use and keeps it while Spark reuses the
    worker.  The Spark copies are destroyed when the driver's handle is
    garbage-collected (or when the engine's own session stops).
    """

    def __init__(self, spark_broadcast: Any, local: list[T]) -> None:
        self._spark = spark_broadcast
        self._local = local
        self._destroy: weakref.finalize[Any, Any] | None = None

    @classmethod
    def create(cls, context: Any, obj: T) -> SparkBroadcast[T]:
        """Serialise ``obj`` with cloudpickle and broadcast it on ``context``."""
        try:
            data = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # cloudpickle raises TypeError, PicklingError, AttributeError...
            raise EngineError(
                f"Cannot send {describe_item(obj)} to Spark workers: cloudpickle failed with "
                f"{error_type_name(exc)}: {exc}. Build such objects inside the task instead.") from exc
        handle = cls(context.broadcast(_Pickled(data)), [obj])
        handle._destroy = weakref.finalize(handle, _destroy, handle._spark)
        handle._destroy.atexit = False  # at exit the session stops, or the JVM goes with us
        return handle

    @property
    def value(self) -> T:
        """The broadcast object."""
        if self._local:
            return self._local[0]
        return self._spark.value

    def release(self) -> None:
        """Destroy the Spark copies now; tasks that still need the value will fail."""
        if self._destroy is not None:
            self._destroy()

    def __reduce__(self) -> tuple[Any, ...]:
        return (SparkBroadcast, (self._spark, []))

    def __repr__(self) -> str:
        return f"SparkBroadcast({describe_item(self.value, 60)})" if self._local else "SparkBroadcast()"


def _destroy(spark_broadcast: Any) -> None:
    try:
        spark_broadcast.destroy(blocking=False)
    except Exception as exc:  # its SparkContext already stopped, which removed it
        logger.debug("Destroying a Spark broadcast failed: %s", exc)
