"""Checkpoints of a training run: save every N seconds, resume where the run stopped."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bigfit.io.checkpoint import CheckpointWriter, load_checkpoint, run_fingerprint

# Settings that may change between a run and its resumption without changing the model.
_FREE = ("engine", "memory_limit", "cache", "max_iter")


class RunCheckpoint:
    """What ``fit`` needs to checkpoint and resume; does nothing without a directory.

    Parameters
    ----------
    directory : path-like or None
        Where the checkpoint lives; None turns checkpointing off.
    every_seconds : float
        Least time between two checkpoints (0: at every epoch or iteration).
    resume : bool
        Continue from the checkpoint in ``directory`` if there is one.
    estimator : str
        The estimator's class name.
    params : mapping
        Its hyperparameters; with ``data_fingerprint`` they identify the run, so a resume
        with other data or parameters is refused.
    data_fingerprint : str
    """

    def __init__(self, directory: str | os.PathLike[str] | None, *, every_seconds: float,
                 resume: bool, estimator: str, params: Mapping[str, Any],
                 data_fingerprint: str) -> None:
        self.writer: CheckpointWriter | None = None
        self.state: dict[str, Any] | None = None
        if directory is None:
            return
        kept = {name: repr(value) for name, value in params.items() if name not in _FREE}
        self.fingerprint = run_fingerprint(estimator, kept, data_fingerprint)
        self.writer = CheckpointWriter(directory, fingerprint=self.fingerprint,
                                       every_seconds=every_seconds)
        if resume:
            loaded = load_checkpoint(directory, fingerprint=self.fingerprint)
            self.state = loaded[0] if loaded is not None else None

    @property
    def due(self) -> bool:
        """Whether a checkpoint should be written now (never without a directory)."""
        return self.writer is not None and self.writer.due

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` now, replacing the previous checkpoint atomically."""
        if self.writer is not None:
            self.writer.save(state)

