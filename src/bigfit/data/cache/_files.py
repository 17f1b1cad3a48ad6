"""The on-disk layout of one cached piece: raw arrays and a metadata file written last.

An entry is a directory ``<root>/<piece key>/<version>/`` holding one raw, headerless,
C-ordered file per array (``X.bin`` float32 (rows, d), ``hashes.bin`` uint64 (rows, c),
``y.bin``, ``w.bin`` float32, ``row_id.bin`` uint64, ``split.bin`` uint64 for a keyed
holdout), ``labels.arrow`` (the classes of a string target, whose ``y.bin`` holds int32
codes, -1 for missing) and ``meta.json``, written last: an entry without a readable
``meta.json`` whose array sizes match it is not an entry.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("bigfit.data.cache")

VERSION = 1
META = "meta.json"
LABELS = "labels.arrow"


def array_path(entry: Path, name: str) -> Path:
    """Return the file of array ``name`` in ``entry``."""
    return entry / f"{name}.bin"


def write_meta(entry: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` (the last file of an entry)."""
    (entry / META).write_text(json.dumps({"version": VERSION, **meta}, indent=1), encoding="utf-8")


def read_meta(entry: Path) -> dict[str, Any] | None:
    """Return an entry's metadata, or None when it is missing, unreadable or of another version."""
    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("Ignoring the unreadable cache entry %s: %s", entry, error)
        return None
    if not isinstance(meta, dict) or meta.get("version") != VERSION:
        logger.info("Ignoring cache entry %s of another version", entry)
        return None
    return meta


def remove_tree(path: Path) -> None:
    """Remove a directory, tolerating another process removing it at the same time."""
    def report(function: Any, name: str, error: Any) -> None:
        exc = error[1] if isinstance(error, tuple) else error
        if not isinstance(exc, FileNotFoundError):
            logger.warning("Could not remove %s from the cache: %s", name, exc)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=report)
    else:
        shutil.rmtree(path, onerror=report)
