"""Where a cache lives: RAM (``/dev/shm``), a local cache directory, or a given path."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import tempfile
from pathlib import Path

import pyarrow.fs as pafs

from bigfit.data.budget import Budget
from bigfit.data.cache._files import logger, remove_tree
from bigfit.data.reader import Reader
from bigfit.exceptions import InvalidParameterError
from bigfit.io.filesystems import is_url

SHM = Path("/dev/shm")
_SAMPLE_BYTES = 2**20
_session: Path | None = None


def resolve_location(location: str | os.PathLike[str] | None, *, estimate: int,
                     budget: Budget) -> Path:
    """Return the concrete local directory of a cache.

    Parameters
    ----------
    location : {"memory", "disk"}, path-like or None
        ``"memory"``: a directory in ``/dev/shm`` (RAM shared by every process of this
        machine; a temporary directory where there is none) private to this process
        and its workers, removed when this process exits.  ``"disk"``:
        ``BIGFIT_CACHE_DIR`` or ``~/.cache/bigfit``, kept between runs.  A path: that
        directory, kept.  None: memory when ``estimate`` fits the budget's share for a
        cache (and the free space of ``/dev/shm``), else disk.
    estimate : int
        Estimated bytes of the decoded cache.
    budget : Budget
        The dataset's memory budget.
    """
    if location is None:
        location = "memory" if budget.cache_fits_in_memory(estimate) \
            and _free_bytes(memory_base()) > estimate else "disk"
        logger.info("Caching about %d MB of decoded data in %s", estimate // 10**6, location)
    if location == "memory":
        return memory_session()
    if location == "disk":
        return Path(os.environ.get("BIGFIT_CACHE_DIR") or "~/.cache/bigfit").expanduser().absolute()
    if isinstance(location, str | os.PathLike) and not is_url(os.fspath(location)):
        return Path(location).expanduser().absolute()
    raise InvalidParameterError(
        "The 'location' parameter of Dataset.cache must be 'memory', 'disk', a local directory "
        f"or None. Got {location!r} instead.")


def memory_base() -> Path:
    """Return the per-user directory under ``/dev/shm`` (or the temp dir) holding memory caches."""
    root = SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else Path(tempfile.gettempdir())
    return root / f"bigfit-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def memory_session() -> Path:
    """Return this process's memory cache directory, created on first use.

    It is named after this process and machine and removed when this process exits;
    directories left by processes of this machine that died without cleaning up are
    removed here.
    """
    global _session
    if _session is None:
        base = memory_base()
        base.mkdir(parents=True, exist_ok=True)
        _remove_orphans(base)
        _session = base / f"{os.getpid()}-{_host()}-{secrets.token_hex(4)}"
        _session.mkdir()
        atexit.register(_remove_session, _session, os.getpid())
    return _session


def _remove_session(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child that inherited the handler
        remove_tree(path)


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:32] or "host"


def _remove_orphans(base: Path) -> None:
    """Remove the sessions of this machine's processes that ended without cleaning up."""
    for child in base.iterdir():
        pid, _, rest = child.name.partition("-")
        if pid.isdigit() and rest.rpartition("-")[0] == _host() and not _alive(int(pid)):
            logger.info("Removing the memory cache %s of a process that has ended", child)
            remove_tree(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path if path.exists() else path.parent).free


def cached_row_bytes(reader: Reader) -> int:
    """Bytes one row takes in the cache."""
    layout = reader.layout
    keyed = reader.holdout is not None and reader.holdout.key is not None
    return (4 * len(layout.numeric_features) + 8 * len(layout.categorical_features) + 8
            + (8 if layout.target else 0) + (4 if layout.weight else 0) + (8 if keyed else 0))


def estimate_cache_bytes(reader: Reader, *, rows: int | None, nbytes: int,
                         sample: str | None) -> int:
    """Estimate the decoded size of a dataset in the cache.

    Row counts come from metadata; for text formats they are estimated from the file
    sizes and the bytes per line of the first MiB of ``sample``.
    """
    if rows is None:
        rows = _estimate_text_rows(reader.filesystem, sample, nbytes)
    return rows * cached_row_bytes(reader)


def _estimate_text_rows(filesystem: pafs.FileSystem | None, sample: str | None, nbytes: int) -> int:
    if sample is None:
        return nbytes
    with (filesystem or pafs.LocalFileSystem()).open_input_file(sample) as handle:
        head = handle.read(_SAMPLE_BYTES)
    lines = max(head.count(b"\n"), 1)
    return int(nbytes / max(len(head) / lines, 1.0)) + 1
