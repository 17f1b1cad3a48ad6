"""The engine contract: where bigfit runs work.

An :class:`Engine` runs functions next to the data.  Algorithms only use the
methods defined here, so the same algorithm runs in-process, on a local process
pool, on Ray or on Spark.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


class Broadcast(Generic[T]):
    """A read-only value shipped once to every worker; read it with :attr:`value`."""

    def __init__(self, value: T) -> None:
        self._value = value

    @property
    def value(self) -> T:
        """The broadcast object."""
        return self._value


class Engine(abc.ABC):
    """Base class of every engine.

    Hooks, in the order an algorithm calls them:

    - :meth:`broadcast` once per model state, before the tasks that read it;
    - :meth:`map` for independent work, or :meth:`map_reduce` for statistics that
      combine with an associative function;
    - :meth:`close` when done (engines are also context managers).

    ``fn`` passed to ``map``/``map_reduce`` may be any picklable callable (lambdas and
    closures too: bigfit serialises them with cloudpickle).
    """

    name: str = "engine"

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """Number of tasks that run at the same time."""

    @abc.abstractmethod
    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        on_result: Callable[[int, R], None] | None = None,
    ) -> list[R]:
        """Return ``[fn(item) for item in items]``, in order, computed by the workers.

        ``on_result(index, result)`` is called in the driver as each task finishes
        (in completion order), for progress reporting.  A task that raises makes
        ``map`` raise :class:`~bigfit.exceptions.TaskError` naming the item; a task
        whose worker dies is run again.
        """

    def map_reduce(
        self,
        fn: Callable[[T, Any], R],
        shards: Sequence[T],
        combine: Callable[[R, R], R],
        state: Any = None,
        *,
        on_result: Callable[[int, R], None] | None = None,
    ) -> R:
        """Return the combination of ``fn(shard, state)`` over every shard.

        Partial results are combined by a binary tree over shard positions
        (``combine(p0, p1)``, ``combine(p2, p3)``, then their combinations, ...), so
        the result does not depend on which worker finished first.  ``state`` is
        passed to every task (wrap large states in :meth:`broadcast`).
        """
        if not shards:
            raise ValueError("map_reduce needs at least one shard")
        partials = self.map(_BoundTask(fn, state), shards, on_result=on_result)
        return tree_combine(partials, combine)

    def broadcast(self, obj: T) -> Broadcast[T]:
        """Ship ``obj`` to every worker once; tasks read it with ``handle.value``."""
        return Broadcast(obj)

    def close(self) -> None:
        """Release workers and any resource the engine started."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workers={self.workers})"


class _BoundTask:
    """``fn(item, state)`` as a one-argument picklable callable."""

    def __init__(self, fn: Callable[[Any, Any], Any], state: Any) -> None:
        self.fn = fn
        self.state = state

    def __call__(self, item: Any) -> Any:
        return self.fn(item, self.state)


def tree_combine(partials: Iterable[R], combine: Callable[[R, R], R]) -> R:
    """Combine ``partials`` pairwise by position, level by level, into one result."""
    level = list(partials)
    if not level:
        raise ValueError("nothing to combine")
    while len(level) > 1:
        paired = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
