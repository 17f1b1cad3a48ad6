"""What runs inside a Ray worker: one bigfit task, reading shards from files or from blocks.

The driver sends each task its function, its item and a *plan* with one action per
shard of the item (see :func:`~bigfit.engine.ray._shard_blocks.shards_in`):

- :data:`KEEP`: read the shard as it is (its files, through its own reader);
- :data:`BUILD`: read it through a binary cache in a scratch directory and return the
  decoded arrays as an extra return value of the task, a block for later tasks;
- an index ``k >= 0``: read it from the block ``blocks[k]`` refers to.

References (to the function, to blocks) travel inside containers, not as top-level
arguments: Ray resolves a top-level reference through the raylet before the task may
start, which measured about 1 ms a task, against 0.1 ms for the task's own ``ray.get``.
"""

from __future__ import annotations

import pickle
import shutil
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle
import ray

from bigfit.data.cache import memory_session
from bigfit.engine._worker import RemoteError
from bigfit.engine.ray._shard_blocks import (
    Block,
    block_bytes,
    building,
    collect_block,
    reading,
    shards_in,
    with_shards,
)

KEEP = -1
BUILD = -2

_last_function: list[Any] = [None, None]  # (object id, function) of the last map in this worker


def run_task(fn_ref: tuple[Any], item: Any, plan: Sequence[int], blocks: Sequence[Any]) -> Any:
    """Run the function ``fn_ref[0]`` refers to on ``item`` as ``plan`` says; the body of
    every Ray task of the engine.

    Returns
    -------
    ``(result, sizes)`` when the plan builds nothing, else ``((result, sizes), *built)``:
    one block (or None, for a shard that ``fn`` did not read to its end) per :data:`BUILD`
    action, and ``sizes`` their bytes (None for those not built).  ``result`` is pickled
    (see :func:`load_result`): Ray would hand numpy arrays to the driver as read-only
    views of the object store, and combine functions add partial results in place.

    Raises
    ------
    RemoteError
        ``fn`` raised; the error travels as text (and pickled when it can be).
    """
    fn = _function(fn_ref[0])
    if blocks:
        blocks = ray.get(list(blocks))
    if BUILD not in plan:
        return _call(fn, _planned(item, plan, blocks, None)), []
    scratch = memory_session() / f"ray-task-{uuid.uuid4().hex}"
    try:
        planned = _planned(item, plan, blocks, scratch)
        result = _call(fn, planned)
        built = [collect_block(shard) for shard, action in zip(shards_in(planned), plan, strict=True)
                 if action == BUILD]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # built arrays stay mapped until sent
    sizes = [None if block is None else block_bytes(block) for block in built]
    return ((result, sizes), *built)


def _planned(item: Any, plan: Sequence[int], blocks: Sequence[Block], scratch: Any) -> Any:
    shards = shards_in(item)
    if not shards:
        return item
    changed = []
    for shard, action in zip(shards, plan, strict=True):
        if action == BUILD:
            shard = building(shard, scratch)
        elif action >= 0:
            shard = reading(shard, blocks[action])
        changed.append(shard)
    return with_shards(item, changed)


def _call(fn: Callable[[Any], Any], item: Any) -> bytes:
    try:
        return cloudpickle.dumps(fn(item), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # the function failed, or its result cannot be sent
        raise RemoteError.capture(exc) from None


def _function(ref: Any) -> Callable[[Any], Any]:
    """Return the function ``ref`` refers to, fetched once per worker and map."""
    key = ref.binary()
    if _last_function[0] != key:
        _last_function[:] = [key, ray.get(ref)]
    return _last_function[1]


def load_result(data: bytes) -> Any:
    """Return the result a task pickled (its arrays writable, owned by the driver)."""
    return pickle.loads(data)
