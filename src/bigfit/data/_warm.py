"""Load, ahead of the first pass over data, what that pass would load on the way.

A fresh process pays this once, on the first batch it reads: importing the readers,
the cache and the transforms (pyarrow's dataset and compute modules among them), then
numba and its compiler target, which numba loads whole, scipy.linalg included, the
first time a compiled loop runs.  That is about 0.7 s of CPU on the machines bigfit
is measured on.  :meth:`bigfit.engine.Engine.start` pays it up front, in every
worker, so that the first pass runs at full speed.
"""

from __future__ import annotations

import importlib

import numpy as np

_MODULES = (
    "bigfit.data.shards",
    "bigfit.data.cache",
    "bigfit.data.stats",
    "bigfit.data.transforms",
    "bigfit.data._kernels",
    "bigfit.data._moments",
)


def warm_up() -> None:
    """Import the data layer's modules and load its compiled loops in this process.

    Idempotent: a second call costs nothing.
    """
    for name in _MODULES:
        importlib.import_module(name)
    from bigfit.data._kernels import splitmix64
    from bigfit.data._moments import update_moments

    # One call of a compiled loop loads numba's target; a loop's first call of each
    # dtype then only reads its own compiled code from the disk cache.
    n = 1
    update_moments(np.zeros((1, n), dtype=np.float32), np.zeros(n, dtype=np.int64),
                   np.zeros(n, dtype=np.int64), np.full(n, np.inf), np.full(n, -np.inf),
                   np.zeros(n), np.zeros(n))
    splitmix64(np.zeros(1, dtype=np.uint64), np.uint64(0))
