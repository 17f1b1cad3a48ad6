"""How estimators reach an engine and cut a dataset into enough shards for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from bigfit.data.dataset import Dataset
from bigfit.data.shards import Shard
from bigfit.engine.base import Engine


@contextlib.contextmanager
def running_engine(spec: Any) -> Iterator[Engine]:
    """Yield the engine named by ``spec``; close it afterwards only when built here.

    An :class:`~bigfit.engine.Engine` instance passed in belongs to the caller and is
    left open; a spec string (``"local[2]"``, ``"ray"``) starts an engine for the call.
    """
    from bigfit.engine import get_engine

    engine = get_engine(spec)
    try:
        yield engine
    finally:
        if engine is not spec:
            engine.close()


def shards_for(data: Dataset, engine: Engine) -> list[Shard]:
    """Return ``data``'s shards, at least two per worker when the engine has several."""
    shards = data.shards()
    if len(shards) < 2 * engine.workers and engine.workers > 1:
        shards = data.shards(2 * engine.workers)
    return shards
