"""One ``map`` on Ray, seen from the driver: plan each item's shards, submit, collect in completion order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.exceptions

from bigfit.engine._worker import RemoteError
from bigfit.engine.base import describe_item, error_type_name, task_error
from bigfit.engine.ray._block_cache import BlockCache
from bigfit.engine.ray._shard_blocks import estimate_bytes, is_cacheable, shard_key, shards_in
from bigfit.engine.ray._tasks import BUILD, KEEP, load_result, run_task
from bigfit.exceptions import EngineError

logger = logging.getLogger("bigfit.engine.ray")

_remote_task = ray.remote(num_cpus=1)(run_task)

_variants: dict[tuple[int, int], Any] = {}

# Raised by ray.get once Ray has given up retrying a task whose worker or node died.
_LOST_WORKER = (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError,
                ray.exceptions.NodeDiedError, ray.exceptions.LocalRayletDiedError)


@dataclass
class _Submitted:
    index: int
    builds: list[tuple[str, Any]] = field(default_factory=list)  # (shard key, block ref)


class MapCall:
    """Run ``fn`` over ``items`` as Ray tasks; see :meth:`RayEngine.map`.

    Parameters
    ----------
    fn_ref : ObjectRef
        The task function, put once in the object store.
    items : sequence
        The items, one task each.
    on_result : callable or None
        Called as ``on_result(index, result)`` in completion order.
    cache : BlockCache or None
        The engine's record of decoded shards in the object store; None disables it.
    max_retries : int
        Attempts Ray makes again after a task's worker died.
    """

    def __init__(self, fn_ref: Any, items: Sequence[Any], on_result: Callable[[int, Any], None] | None,
                 cache: BlockCache | None, max_retries: int) -> None:
        self.fn_ref, self.items, self.on_result = fn_ref, items, on_result
        self.cache, self.max_retries = cache, max_retries
        self.results: list[Any] = [None] * len(items)

    def run(self) -> list[Any]:
        if self.cache is not None:
            self.cache.begin_call()
        pending: dict[Future[Any], tuple[Any, _Submitted]] = {}
        try:
            for index, item in enumerate(self.items):
                ref, submitted = self._submit(index, item)
                pending[ref.future()] = (ref, submitted)
            # Futures complete from Ray's own thread: no polling of the pending list.
            for future in as_completed(list(pending)):
                _, submitted = pending.pop(future)
                self._finish(future, submitted)
        # Only Ctrl-C cancels the other tasks; after a task error they finish and their results
        # are dropped, because a ray.cancel racing with a task's completion can abort the driver
        # (Ray 2.60: "Check failed: it != submissible_tasks_.end()" in CompletePendingTask).
        except KeyboardInterrupt:
            _cancel(pending, force=True)
            raise
        finally:
            for _, submitted in pending.values():  # never finished: give their room back
                self._forget_builds(submitted)
        return self.results

    def _submit(self, index: int, item: Any) -> tuple[Any, _Submitted]:
        plan, blocks, keys = self._plan(item)
        try:
            refs = self._remote(1 + len(keys)).remote((self.fn_ref,), item, plan, tuple(blocks))
        except Exception as exc:  # an item that cannot be serialised fails as its task would
            for key in keys:
                self.cache.cancel(key)  # type: ignore[union-attr]
            raise task_error(index, item, error_type_name(exc), str(exc), exc) from exc
        if not keys:
            return refs, _Submitted(index)
        return refs[0], _Submitted(index, list(zip(keys, refs[1:], strict=True)))

    def _remote(self, returns: int) -> Any:
        """The task with these options (cached: building options costs more than a submit)."""
        key = (self.max_retries, returns)
        if key not in _variants:
            _variants[key] = _remote_task.options(max_retries=self.max_retries, num_returns=returns)
        return _variants[key]

    def _plan(self, item: Any) -> tuple[list[int], list[Any], list[str]]:
        """Return the item's plan, the blocks to pass, and the keys of the blocks it builds."""
        plan: list[int] = []
        blocks: list[Any] = []
        keys: list[str] = []
        for shard in shards_in(item):
            action = KEEP
            if self.cache is not None and is_cacheable(shard):
                key = shard_key(shard)
                ref = self.cache.get(key)
                if ref is not None:
                    action = len(blocks)
                    blocks.append(ref)
                elif self.cache.reserve(key, estimate_bytes(shard)):
                    action = BUILD
                    keys.append(key)
            plan.append(action)
        return plan, blocks, keys

    def _finish(self, future: Future[Any], submitted: _Submitted) -> None:
        index = submitted.index
        try:
            payload, sizes = future.result()
        except ray.exceptions.RayTaskError as error:
            raise self._task_error(index, error) from None
        except _LOST_WORKER as error:
            raise EngineError(
                f"Item {describe_item(self.items[index])} (task {index}) lost its Ray worker "
                f"{self.max_retries + 1} times (last: {type(error).__name__}); giving up. Check its "
                "memory use (Ray's memory monitor and the kernel's OOM killer kill workers) and any "
                "native code it calls.") from error
        except ray.exceptions.RayError as error:
            raise EngineError(
                f"Ray could not run task {index} on item {describe_item(self.items[index])}: "
                f"{type(error).__name__}: {error}") from error
        for (key, block_ref), size in zip(submitted.builds, sizes, strict=True):
            if size is None:
                self.cache.cancel(key)  # type: ignore[union-attr]
            else:
                self.cache.commit(key, block_ref, size)  # type: ignore[union-attr]
        submitted.builds = []
        self.results[index] = result = load_result(payload)
        if self.on_result is not None:
            self.on_result(index, result)

    def _task_error(self, index: int, error: ray.exceptions.RayTaskError) -> Exception:
        item = self.items[index]
        cause = getattr(error, "cause", None)
        if isinstance(cause, RemoteError):
            original = cause.cause()
            new = task_error(index, item, cause.error_type, cause.message, original)
            new.__cause__ = original
            return new
        # Raised by Ray around the function, e.g. a result that cannot be serialised.
        cause = cause if isinstance(cause, BaseException) else error
        new = task_error(index, item, error_type_name(cause), str(cause).strip().splitlines()[-1])
        new.__cause__ = error
        return new

    def _forget_builds(self, submitted: _Submitted) -> None:
        for key, _ in submitted.builds:
            self.cache.cancel(key)  # type: ignore[union-attr]


def _cancel(pending: dict[Future[Any], tuple[Any, _Submitted]], *, force: bool) -> None:
    """Stop the pending tasks (on Ctrl-C only: see the note in :meth:`_MapCall.run`)."""
    for ref, _ in pending.values():
        try:
            ray.cancel(ref, force=force)
        except Exception as exc:  # already finished, or its worker already gone
            logger.debug("Could not cancel a Ray task: %s", exc)
