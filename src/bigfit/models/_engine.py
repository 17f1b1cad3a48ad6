"""How estimators reach an engine and cut a dataset into enough shards for it."""

from __future__ import annotations

from bigfit.data.dataset import Dataset
from bigfit.data.shards import Shard
from bigfit.engine.base import Engine
from bigfit.engine.registry import running_engine

__all__ = ["running_engine", "shards_for"]


def shards_for(data: Dataset, engine: Engine) -> list[Shard]:
    """Return ``data``'s shards, at least two per worker when the engine has several."""
    shards = data.shards()
    if len(shards) < 2 * engine.workers and engine.workers > 1:
        shards = data.shards(2 * engine.workers)
    return shards
