"""The engine contract: where bigfit runs work.

An :class:`Engine` runs functions next to the data.  Algorithms only use the
methods defined here, so the same algorithm runs in-process, on a local process
pool, on Ray or on Spark.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Self, TypeVar

from bigfit.exceptions import BigfitError, EngineError, TaskError, UnknownEngineError

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


class Broadcast(Generic[T]):
    """A read-only value shipped once to every worker; read it with :attr:`value`.

    This base class simply holds the value, which is all an in-process engine needs.
    Engines whose tasks run elsewhere return a subclass that pickles as a small
    reference and loads the value once per worker.  Treat the value as read-only:
    whether a task sees another task's changes depends on the engine.
    """

    def __init__(self, value: T) -> None:
        self._value = value

    @property
    def value(self) -> T:
        """The broadcast object."""
        return self._value


class Engine(abc.ABC):
    """Base class of every engine.

    Hooks, in the order an algorithm calls them:

    - :meth:`start`, optionally: engines also start on first use;
    - :meth:`broadcast` once per model state, before the tasks that read it;
    - :meth:`map` for independent work, or :meth:`map_reduce` for statistics that
      combine with an associative function;
    - :meth:`close` when done (engines are also context managers).

    ``fn`` passed to ``map``/``map_reduce`` may be any picklable callable (lambdas and
    closures too: bigfit serialises them with cloudpickle).
    """

    name: str = "engine"

    @classmethod
    def from_spec(cls, spec: str) -> Engine:
        """Build the engine that ``spec`` names; called by :func:`~bigfit.engine.get_engine`.

        The default accepts only the bare :attr:`name`; engines whose specs carry
        arguments (``local[4]``, ``ray://host:10001``) override this.
        """
        if spec != cls.name:
            raise UnknownEngineError(f"{cls.__name__} takes the spec {cls.name!r}. Got {spec!r}.")
        return cls()

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

    @property
    def spec(self) -> str:
        """The engine as :func:`~bigfit.engine.get_engine` accepts it, for messages."""
        return self.name

    def broadcast(self, obj: T) -> Broadcast[T]:
        """Ship ``obj`` to every worker once; tasks read it with ``handle.value``."""
        return Broadcast(obj)

    def start(self) -> Self:
        """Start the workers now, rather than on first use, and return the engine.

        Engines start when their first job needs them; starting ahead takes start-up
        (processes, sessions, imports) out of that job, for interactive sessions and
        for timing jobs alone.  Starting a started engine does nothing.
        """
        return self

    def close(self) -> None:  # noqa: B027 - an optional hook: nothing to release by default
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


def describe_item(item: object, limit: int = 120) -> str:
    """Return ``repr(item)`` shortened to about ``limit`` characters, for messages.

    Examples
    --------
    >>> describe_item("x" * 300, limit=20)
    "'xxxxxxx...xxxxxxxx'"
    """
    text = repr(item)
    if len(text) <= limit:
        return text
    head = (limit - 3) // 2
    return f"{text[:head]}...{text[head + 3 - limit:]}"


def task_error(index: int, item: object, error_type: str, message: str,
               original: BaseException | None = None) -> Exception:
    """Return the error to raise in the driver for a task that raised.

    A bigfit error (bad data, bad parameter: its message already says what is wrong) keeps
    its type, so ``except DataError`` works whatever the engine, and gains the task and
    item at the end of its message.  Any other error becomes a
    :class:`~bigfit.exceptions.TaskError` naming the task, the item (shard) and the
    original type and message.  Raise it ``from`` the original error (or its remote
    traceback) so that traceback is kept.
    """
    where = f"task {index} on {describe_item(item)}"
    if isinstance(original, BigfitError) and not isinstance(original, EngineError):
        try:
            return type(original)(f"{message} (in {where})")
        except TypeError:  # an error class with another constructor: wrap it instead
            pass
    return TaskError(f"Task {index} failed on item {describe_item(item)}: {error_type}: {message}")


def error_type_name(error: BaseException) -> str:
    """Return ``ValueError`` for builtins, ``module.QualName`` for other error types."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
