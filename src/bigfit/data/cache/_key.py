"""Cache keys: what identifies a piece's decoded arrays, and the live version of its file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from bigfit.data.pieces import Piece
from bigfit.data.reader import Reader
from bigfit.exceptions import DataNotFoundError
from bigfit.io.filesystems import file_token

_TAG_FIELDS = ("ETag", "etag", "md5Hash", "ukey")
_MTIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


def piece_key(reader: Reader, piece: Piece) -> str:
    """Return the hex digest naming ``piece``'s cache directory.

    It covers everything that changes the decoded arrays except the file's version
    (kept one level down, so stale versions of a piece can be found and removed):
    the filesystem and path, file identifier, units, byte range and partition values,
    the type of every column read, the column roles, the split key whose ids are
    cached, and the format's options.
    """
    columns = reader.columns()
    identity = {
        "filesystem": reader.filesystem.type_name if reader.filesystem is not None else "local",
        "path": piece.path,
        "file_id": piece.file_id,
        "units": list(piece.units),
        "first_row": piece.first_row,
        "byte_range": list(piece.byte_range) if piece.byte_range is not None else None,
        "partition": [list(item) for item in piece.partition],
        "columns": [[name, str(reader.schema.field(name).type)] for name in columns],
        "layout": dataclasses.asdict(reader.layout),
        "split_key": reader.holdout.key if reader.holdout is not None else None,
        "format": format_options(reader.format),
    }
    return _digest(json.dumps(identity, sort_keys=True, default=str), 16)


def version_name(token: str) -> str:
    """Return the directory name of the cached version of a file with ``token``."""
    return _digest(token, 8)


def format_options(fmt: Any) -> dict[str, str]:
    """Return a format's class and options as plain strings."""
    options = {"class": f"{type(fmt).__module__}.{type(fmt).__qualname__}"}
    for name, value in sorted(getattr(fmt, "__dict__", {}).items()):
        options[name] = value.to_string(show_schema_metadata=False) \
            if isinstance(value, pa.Schema) else repr(value)
    return options


def source_token(filesystem: pafs.FileSystem | None, path: str) -> str:
    """Stat ``path`` now and return a token that changes when the file changes.

    The token is ``"size:mtime_ns"``; for fsspec filesystems whose file info carries an
    entity tag (``ETag``, ``md5Hash`` or ``ukey``) the tag is appended, since object
    stores may keep the size and round the modification time.

    Raises
    ------
    DataNotFoundError
        The file no longer exists.
    """
    filesystem = filesystem or pafs.LocalFileSystem()
    fs = getattr(getattr(filesystem, "handler", None), "fs", None)
    if fs is not None:
        return _fsspec_token(fs, path)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise _gone(path)
    return file_token(info)


def _fsspec_token(fs: Any, path: str) -> str:
    """One fresh ``info`` call (past fsspec's listing cache): size, mtime and entity tag."""
    fs.invalidate_cache(path)
    try:
        info = fs.info(path)
    except FileNotFoundError as error:
        raise _gone(path) from error
    mtime = next((info[name] for name in _MTIME_FIELDS if info.get(name) is not None), 0)
    tag = next((info[name] for name in _TAG_FIELDS if info.get(name)), None)
    token = f"{info.get('size')}:{mtime}"
    return f"{token}:{tag}" if tag else token


def _gone(path: str) -> DataNotFoundError:
    return DataNotFoundError(f"The data file {path!r} no longer exists; reopen the dataset.")


def _digest(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size).hexdigest()
