"""Faults for the Spark tests: a task function that kills its worker once, and an engine that injects it."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

from bigfit.data.shards import Shard
from bigfit.engine.spark import SparkEngine


class KillOnce:
    """Wraps a task function: the first worker to run shard 1 kills itself (SIGKILL)."""

    def __init__(self, fn: Callable[[Any], Any], marker: str) -> None:
        self.fn, self.marker = fn, marker

    def __call__(self, item: Any) -> Any:
        if isinstance(item, Shard) and item.index == 1:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass  # the retry: this time, finish
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return self.fn(item)


class KillingEngine(SparkEngine):
    """The Spark engine, but its ``at``-th map kills the worker running shard 1 once."""

    def __init__(self, session: Any, marker: str, at: int) -> None:
        super().__init__(session)
        self.marker, self.at, self.calls = marker, at, 0

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], **kwargs: Any) -> list[Any]:
        self.calls += 1
        if self.calls == self.at:
            fn = KillOnce(fn, self.marker)
        return super().map(fn, items, **kwargs)
