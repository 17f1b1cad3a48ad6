"""Atomic writes: a file or a directory appears whole, or not at all.

Every writer in bigfit (model files, predictions, checkpoints, generated data) goes
through :func:`atomic_write` or :func:`atomic_directory`.  Both build the output under
a hidden temporary name next to the target (same directory, so the same filesystem),
flush it to disk and rename it into place; on error the temporary is removed.  A
crash therefore never leaves a half-written file under the target name.  A process
killed outright can leave a hidden ``.<name>.<random>.tmp`` sibling behind, never a
partial target.  Leading dots also keep such leftovers out of Arrow dataset discovery.

Only local paths are supported for now; the signatures take ``str | os.PathLike`` so
that URL support (object stores have their own atomic-put semantics) can be added
behind the same functions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bigfit.exceptions import InvalidParameterError

__all__ = ["atomic_directory", "atomic_write"]

logger = logging.getLogger(__name__)

_WRITE_MODES = ("wb", "w", "wt")


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    fsync: bool = True,
) -> Iterator[IO[Any]]:
    """Open a file for writing that replaces ``path`` only when the block succeeds.

    The data goes to a temporary file in the same directory; on success it is flushed,
    fsynced and renamed over ``path`` with :func:`os.replace` (atomic on POSIX and
    Windows).  If the block raises, the temporary file is deleted, ``path`` is left as
    it was and the exception propagates.  Missing parent directories are created.

    Parameters
    ----------
    path : str or os.PathLike
        The final file name (local path).
    mode : {"wb", "w", "wt"}, default="wb"
        Binary or text mode.
    encoding : str, optional
        Text encoding; text mode defaults to UTF-8 (not the locale's encoding).
    newline : str, optional
        Passed to :func:`open` in text mode.
    fsync : bool, default=True
        Flush the file and its directory to disk before returning, so the new content
        survives a power loss.  Turn off only for scratch files.

    Yields
    ------
    file object
        The open temporary file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "model.json"
    >>> with atomic_write(target, "w") as f:
    ...     _ = f.write("{}")
    >>> target.read_text()
    '{}'
    """
    if mode not in _WRITE_MODES:
        raise InvalidParameterError(
            f"The 'mode' parameter of atomic_write must be one of {list(_WRITE_MODES)}. "
            f"Got {mode!r} instead."
        )
    target = _local_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _create_temp_file(target)
    if "b" in mode:
        file: IO[Any] = os.fdopen(fd, mode)
    else:
        file = os.fdopen(fd, mode, encoding=encoding or "utf-8", newline=newline)
    try:
        with file:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_directory(target.parent)


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike[str], *, overwrite: bool = False, fsync: bool = True
) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``path`` at the end.

    For writers that produce a folder of files (a partitioned dataset, a checkpoint).
    The block receives the path of an empty hidden sibling directory to fill.  On
    success its files are fsynced and it is renamed to ``path``; on error it is deleted
    and ``path`` is left untouched.  Missing parent directories are created.

    Parameters
    ----------
    path : str or os.PathLike
        The final directory (local path).
    overwrite : bool, default=False
        Replace an existing non-empty directory.  Without it, such a directory is an
        error (checked before the block runs, so no work is wasted, and again at the
        end).  An existing empty directory is always replaced.
    fsync : bool, default=True
        Flush every file and the directories to disk before the rename, so the renamed
        directory never holds truncated files after a power loss.

    Yields
    ------
    pathlib.Path
        The temporary directory to write into.

    Raises
    ------
    InvalidParameterError
        If ``path`` is an existing file, or a non-empty directory and ``overwrite`` is
        false.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "data"
    >>> with atomic_directory(out) as tmp:
    ...     _ = (tmp / "part-0.csv").write_text("a\\n1\\n")
    >>> sorted(p.name for p in out.iterdir())
    ['part-0.csv']
    """
    target = _local_path(path)
    _check_replaceable(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp_dir(target)
    try:
        yield tmp
        if fsync:
            _fsync_tree(tmp)
        _check_replaceable(target, overwrite)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if fsync:
        _fsync_directory(target.parent)


def _local_path(path: str | os.PathLike[str]) -> Path:
    text = os.fspath(path)
    if "://" in text and not text.startswith("file://"):
        raise InvalidParameterError(
            f"Atomic writes support local paths only for now; got {text!r}. "
            "Write to a local path and copy the result."
        )
    return Path(text.removeprefix("file://")).absolute()


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")


def _create_temp_file(target: Path) -> tuple[Path, int]:
    # os.open with mode 0o666 lets the umask decide the permissions, as for a plain
    # open(); tempfile.mkstemp would leave the final file readable by its owner only.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_name(target)
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


def _create_temp_dir(target: Path) -> Path:
    while True:
        tmp = _temp_name(target)
        try:
            tmp.mkdir(0o777)  # umask applies, unlike tempfile.mkdtemp's 0o700
            return tmp
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if not target.exists() and not target.is_symlink():
        return
    if not target.is_dir() or target.is_symlink():
        raise InvalidParameterError(
            f"The output {str(target)!r} exists and is not a directory; "
            "remove it or choose another path."
        )
    if not overwrite and any(target.iterdir()):
        raise InvalidParameterError(
            f"The output directory {str(target)!r} already exists and is not empty. "
            "Pass overwrite=True (--overwrite on the command line) to replace it, "
            "or choose another path."
        )


def _swap_into_place(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)  # succeeds when target is missing or an empty directory
        return
    except OSError:
        if not target.is_dir():
            raise
    # A non-empty directory cannot be renamed over: move it aside first.  A crash
    # between the two renames leaves the old data under the hidden ``.old`` name.
    old = target.with_name(f".{target.name}.{secrets.token_hex(6)}.old")
    os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
    logger.debug("replaced existing directory %s", target)


def _fsync_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_directory(Path(dirpath))


def _fsync_directory(path: Path) -> None:
    # Makes a rename durable on POSIX; Windows cannot open directories, nothing to do.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - filesystems without directory fsync
        pass
    finally:
        os.close(fd)
