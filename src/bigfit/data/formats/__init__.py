"""File formats and their inference from file names."""

from __future__ import annotations

from typing import Any

from bigfit.data.formats.base import FileScan, Format
from bigfit.data.formats.csv import CsvFormat
from bigfit.data.formats.ipc import IpcFormat
from bigfit.data.formats.jsonl import JsonLinesFormat
from bigfit.data.formats.memory import MemoryFormat
from bigfit.data.formats.parquet import ParquetFormat
from bigfit.exceptions import UnknownFormatError

__all__ = ["CsvFormat", "FileScan", "Format", "IpcFormat", "JsonLinesFormat", "MemoryFormat",
           "ParquetFormat", "format_for", "infer_format_name"]

FORMATS: dict[str, type[Format]] = {
    "parquet": ParquetFormat,
    "csv": CsvFormat,
    "json": JsonLinesFormat,
    "jsonl": JsonLinesFormat,
    "ipc": IpcFormat,
    "arrow": IpcFormat,
    "feather": IpcFormat,
}


def infer_format_name(path: str) -> str | None:
    """Return the format name for a file name's extension, or None."""
    lower = path.lower()
    for name in ("parquet", "csv", "json", "ipc"):
        if lower.endswith(FORMATS[name].extensions):
            return name
    return None


def format_for(name: str, **options: Any) -> Format:
    """Return a format instance by name with its reading options.

    Raises
    ------
    UnknownFormatError
        When the name is unknown, or options do not apply to the format.
    """
    key = name.lower().lstrip(".")
    if key not in FORMATS:
        raise UnknownFormatError(f"Unknown format {name!r}; use one of {sorted(set(FORMATS))}.")
    try:
        return FORMATS[key](**options)
    except TypeError as error:
        raise UnknownFormatError(
            f"Option(s) {sorted(options)} do not apply to the {key} format ({error})."
        ) from error
