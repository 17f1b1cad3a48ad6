"""Training progress as events: the library reports, the caller (e.g. the CLI) draws.

Estimators call a :class:`Callback`'s hooks from ``fit`` in this order:
``on_fit_start`` once, then ``on_epoch_end`` after each epoch (SGD) or iteration (L-BFGS),
then ``on_fit_end`` once.  The library itself only logs to ``logging.getLogger("bigfit")``.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("bigfit.models")


class Callback:
    """Base class: override the hooks you need; each receives plain data."""

    def on_fit_start(self, info: dict[str, Any]) -> None:
        """Called once with the estimator name, solver, rows, epochs (``max_iter``)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        """Called after each epoch or iteration with ``train_loss``, ``validation_loss``
        (when there is a holdout), ``seconds``, ``rows_per_second`` and ``peak_rss_mb``."""

    def on_fit_end(self, logs: dict[str, Any]) -> None:
        """Called once with ``n_iter`` and the final losses."""


class CallbackList(Callback):
    """Several callbacks as one, plus a debug log line per epoch."""

    def __init__(self, callbacks: Sequence[Callback] | None) -> None:
        self.callbacks = list(callbacks or ())

    def on_fit_start(self, info: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_fit_start(info)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        logs = {**logs, "peak_rss_mb": peak_rss_mb()}
        logger.debug("epoch %d: %s", epoch, logs)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_fit_end(self, logs: dict[str, Any]) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(logs)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
