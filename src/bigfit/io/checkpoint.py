"""Checkpoints: a long run saves its state every few seconds and resumes after a crash.

A checkpoint is one file, ``<directory>/checkpoint.bigfit``, in the model-file container
(:mod:`bigfit.io.model_file`) with ``"format": "bigfit-checkpoint"``, so it gets the same
checks on load.  Each save writes a complete new file under a temporary name and renames
it over the old one: the previous checkpoint stays valid until the new one is whole, and
only the last one is kept.  The file records the bigfit version and a *run fingerprint*
(see :func:`run_fingerprint`): resuming with other data, parameters or bigfit fails
loudly instead of mixing two runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bigfit._version import __version__
from bigfit.exceptions import CheckpointMismatchError, DataNotFoundError, InvalidParameterError
from bigfit.io.filesystems import is_url
from bigfit.io.model_file import (
    CHECKPOINT_FORMAT,
    flatten_state,
    read_bigfit_file,
    write_bigfit_file,
)

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointMismatchError",
    "CheckpointWriter",
    "checkpoint_path",
    "load_checkpoint",
    "run_fingerprint",
]

CHECKPOINT_NAME = "checkpoint.bigfit"

State = tuple[Mapping[str, Any], Mapping[str, np.ndarray] | None]


class CheckpointWriter:
    """Save a run's state to ``directory``, at most every ``every_seconds`` seconds.

    Parameters
    ----------
    directory : str or path-like
        Where the checkpoint lives (local path or fsspec URL); created when missing.
    fingerprint : str
        Identifies the run (data and parameters), e.g. from :func:`run_fingerprint`;
        :func:`load_checkpoint` refuses to resume a run with another one.
    every_seconds : float, default=60.0
        Minimum time between two saves by :meth:`maybe_save`, counted from the
        writer's creation and then from the last save.
    storage_options : mapping, optional
        Options for the fsspec filesystem of a URL.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> directory = tempfile.mkdtemp()
    >>> writer = CheckpointWriter(directory, fingerprint="run-1", every_seconds=30)
    >>> writer.maybe_save(lambda: ({"epoch": 1}, {"coef": np.zeros(3)}))  # too soon
    False
    >>> writer.save({"epoch": 1}, {"coef": np.zeros(3)})
    >>> load_checkpoint(directory, fingerprint="run-1")
    ({'epoch': 1}, {'coef': array([0., 0., 0.])})
    """

    def __init__(self, directory: str | os.PathLike[str], *, fingerprint: str,
                 every_seconds: float = 60.0,
                 storage_options: Mapping[str, Any] | None = None) -> None:
        if not isinstance(fingerprint, str):
            raise InvalidParameterError(
                "The 'fingerprint' parameter of CheckpointWriter must be a str. "
                f"Got {fingerprint!r} instead."
            )
        if (isinstance(every_seconds, bool) or not isinstance(every_seconds, int | float)
                or not 0 <= every_seconds < float("inf")):
            raise InvalidParameterError(
                "The 'every_seconds' parameter of CheckpointWriter must be a float in the "
                f"range [0.0, inf). Got {every_seconds!r} instead."
            )
        self.path = checkpoint_path(directory)
        self.fingerprint = fingerprint
        self.every_seconds = float(every_seconds)
        self.storage_options = storage_options
        self._last = time.monotonic()

    def __repr__(self) -> str:
        return f"CheckpointWriter({self.path!r}, every_seconds={self.every_seconds})"

    @property
    def due(self) -> bool:
        """Whether :meth:`maybe_save` would save now."""
        return time.monotonic() - self._last >= self.every_seconds

    def maybe_save(self, build_state: Callable[[], State]) -> bool:
        """Save ``build_state()`` if ``every_seconds`` have passed since the last save.

        ``build_state`` is called only when a save is due, so gathering the state may
        be costly.  It returns ``(state, arrays)`` as :meth:`save` takes them.  Returns
        whether a checkpoint was written.
        """
        if not self.due:
            return False
        self.save(*build_state())
        return True

    def save(self, state: Mapping[str, Any],
             arrays: Mapping[str, np.ndarray] | None = None) -> None:
        """Write a checkpoint now, replacing the previous one atomically.

        Parameters
        ----------
        state : mapping
            JSON values and bool or numeric arrays, nested freely (as for model files):
            model, optimizer state, position in the stream.
        arrays : mapping of str to numpy.ndarray, optional
            Further arrays by name, returned apart by :func:`load_checkpoint`.
        """
        arrays = dict(arrays or {})
        for name, array in arrays.items():
            if not isinstance(array, np.ndarray):
                raise InvalidParameterError(
                    f"Checkpoint arrays must be numpy arrays; {name!r} is a "
                    f"{type(array).__name__}. Put other values in the state."
                )
        write_bigfit_file(self.path, format=CHECKPOINT_FORMAT,
                          header={"fingerprint": self.fingerprint},
                          tree={"state": dict(state), "named_arrays": arrays},
                          storage_options=self.storage_options)
        self._last = time.monotonic()


def load_checkpoint(directory: str | os.PathLike[str], *, fingerprint: str | None,
                    storage_options: Mapping[str, Any] | None = None,
                    ) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """Return the ``(state, arrays)`` saved in ``directory``, or ``None`` when there is none.

    Parameters
    ----------
    directory : str or path-like
        The directory given to :class:`CheckpointWriter`.
    fingerprint : str or None
        This run's fingerprint: a checkpoint of another run, or one written by another
        bigfit version, is refused.  ``None`` skips these checks (to inspect a
        checkpoint, not to resume from it).
    storage_options : mapping, optional
        Options for the fsspec filesystem of a URL.

    Raises
    ------
    CheckpointMismatchError
        The checkpoint was written for another fingerprint or by another bigfit version.
    ModelFileError
        The checkpoint is corrupt or is not a bigfit checkpoint.
    """
    path = checkpoint_path(directory)
    try:
        metadata, tree = read_bigfit_file(path, format=CHECKPOINT_FORMAT,
                                          keys=("state", "named_arrays"),
                                          storage_options=storage_options)
    except DataNotFoundError:
        return None
    if fingerprint is None:
        return tree["state"], tree["named_arrays"]
    if metadata.get("fingerprint") != fingerprint:
        raise CheckpointMismatchError(
            f"The checkpoint {path!r} belongs to another run: its fingerprint is "
            f"{_short(metadata.get('fingerprint'))}, this run's is {_short(fingerprint)}, so the "
            f"data or the parameters changed. {_start_over(path, 'data and parameters')}"
        )
    written_by = metadata.get("bigfit_version")
    if written_by != __version__:
        raise CheckpointMismatchError(
            f"The checkpoint {path!r} was written by bigfit {written_by}; this is bigfit "
            f"{__version__}. {_start_over(path, f'bigfit version ({written_by})')}"
        )
    return tree["state"], tree["named_arrays"]


def checkpoint_path(directory: str | os.PathLike[str]) -> str:
    """Return the checkpoint file's path (or URL) in ``directory``."""
    text = os.fspath(directory)
    if is_url(text):
        return posixpath.join(text.rstrip("/"), CHECKPOINT_NAME)
    return os.path.join(text, CHECKPOINT_NAME)


def run_fingerprint(*parts: Any) -> str:
    """Hash what identifies a run (parameters, a data token, a seed) into a fingerprint.

    Parameters
    ----------
    *parts
        JSON values and bool or numeric numpy arrays, nested freely.  Dict key order
        does not matter.

    Returns
    -------
    str
        A sha256 hex digest.

    Examples
    --------
    >>> a = run_fingerprint({"alpha": 0.1, "seed": 0}, "data:4f2a")
    >>> a == run_fingerprint({"seed": 0, "alpha": 0.1}, "data:4f2a")
    True
    >>> a == run_fingerprint({"alpha": 0.2, "seed": 0}, "data:4f2a")
    False
    """
    json_parts, arrays = flatten_state(list(parts))
    digest = hashlib.sha256(json.dumps(json_parts, sort_keys=True).encode("utf-8"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}:{array.dtype.str}:{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _short(fingerprint: Any) -> str:
    if isinstance(fingerprint, str) and len(fingerprint) > 15:
        return repr(fingerprint[:12] + "...")
    return repr(fingerprint)


def _start_over(path: str, same: str) -> str:
    return (f"Resume with the same {same}, or delete {path!r} (or choose another checkpoint "
            "directory) to start over.")
