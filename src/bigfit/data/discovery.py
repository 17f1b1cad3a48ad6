"""Find the files of a dataset: a file, a glob, a directory (with hive partitions) or URLs."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from bigfit.data.formats import infer_format_name
from bigfit.exceptions import DataNotFoundError, UnknownFormatError
from bigfit.io.filesystems import resolve

_GLOB_CHARS = "*?["


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A data file: its path, relative path (for identifiers), size and hive partition values."""

    path: str
    relative: str
    size: int
    token: str
    partition: tuple[tuple[str, str], ...]


def find_files(sources: Sequence[str | os.PathLike[str]], *, format_name: str | None,
               storage_options: Mapping[str, Any] | None = None,
               ) -> tuple[pafs.FileSystem, list[FoundFile], str]:
    """Return the filesystem, the data files (sorted) and the format name.

    Raises
    ------
    DataNotFoundError
        A path does not exist or a glob matches nothing.
    UnknownFormatError
        The format cannot be inferred from the file names, or files mix formats.
    """
    filesystem: pafs.FileSystem | None = None
    found: list[FoundFile] = []
    for source in sources:
        fs, path = resolve(source, storage_options)
        if filesystem is None:
            filesystem = fs
        found.extend(_find(fs, path, str(source), format_name))
    assert filesystem is not None
    found.sort(key=lambda f: f.path)
    return filesystem, found, format_name or _common_format(found)


def _find(fs: pafs.FileSystem, path: str, shown: str, format_name: str | None) -> list[FoundFile]:
    if any(char in path for char in _GLOB_CHARS):
        root = _glob_root(path)
        infos = _list(fs, root, shown)
        matches = [i for i in infos if fnmatch.fnmatchcase(i.path, path) and not _hidden(i.path, root)]
        if not matches:
            raise DataNotFoundError(f"The pattern {shown!r} matches no file.")
        return [_found(i, root) for i in matches]
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise DataNotFoundError(f"No such file or directory: {shown!r}.")
    if info.type == pafs.FileType.File:
        return [_found(info, path.rsplit("/", 1)[0] if "/" in path else "")]
    infos = [i for i in _list(fs, path, shown) if not _hidden(i.path, path)]
    if format_name is None:
        infos = [i for i in infos if infer_format_name(i.path)]
    if not infos:
        raise DataNotFoundError(f"The directory {shown!r} holds no data file.")
    return [_found(i, path) for i in infos]


def _list(fs: pafs.FileSystem, root: str, shown: str) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except FileNotFoundError as error:
        raise DataNotFoundError(f"No such directory: {root!r} (from {shown!r}).") from error
    return [i for i in infos if i.type == pafs.FileType.File]


def _glob_root(pattern: str) -> str:
    head = pattern
    for char in _GLOB_CHARS:
        head = head.split(char, 1)[0]
    return head.rsplit("/", 1)[0] if "/" in head else "."


def _hidden(path: str, root: str) -> bool:
    relative = path[len(root):].lstrip("/")
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def _found(info: pafs.FileInfo, root: str) -> FoundFile:
    relative = info.path[len(root):].lstrip("/") if root and info.path.startswith(root) else info.path
    partition = tuple(tuple(part.split("=", 1)) for part in relative.split("/")[:-1] if "=" in part)
    mtime = info.mtime_ns if info.mtime is not None else 0
    return FoundFile(info.path, relative, info.size or 0, f"{info.size}:{mtime}",
                     partition)  # type: ignore[arg-type]


def _common_format(files: list[FoundFile]) -> str:
    names = {infer_format_name(f.path) for f in files}
    if None in names:
        odd = next(f.path for f in files if infer_format_name(f.path) is None)
        raise UnknownFormatError(
            f"Cannot tell the format of {odd!r} from its name; pass format='parquet', 'csv', "
            "'json' or 'ipc'.")
    if len(names) > 1:
        raise UnknownFormatError(f"The files mix formats {sorted(names)}; open each format apart "  # type: ignore[type-var]
                                 "or pass format=.")
    return names.pop()  # type: ignore[return-value]
