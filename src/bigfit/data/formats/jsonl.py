"""JSON lines (one object per line), split into byte blocks like CSV."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.json as pajson

from bigfit.data.formats.text import DEFAULT_BLOCK_BYTES, TextFormat, count_lines, promote_integers
from bigfit.data.pieces import Piece
from bigfit.exceptions import EmptyDatasetError, ParseError

_READ_BLOCK = 4 * 2**20
_ROW = re.compile(r"in row (\d+)")


class JsonLinesFormat(TextFormat):
    """Newline-delimited JSON objects.

    Parameters
    ----------
    schema : pyarrow.Schema or mapping of column name to type, optional
        Types for some or all fields, overriding inference.
    block_bytes : int
        Size of the byte blocks files are split into.
    """

    name = "json"
    extensions = (".jsonl", ".ndjson", ".json")

    def __init__(self, *, schema: pa.Schema | Mapping[str, Any] | None = None,
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        super().__init__(schema=schema, block_bytes=block_bytes)

    def infer_schema(self, filesystem: pafs.FileSystem, path: str) -> pa.Schema:
        with filesystem.open_input_file(path) as handle:
            try:
                reader = pajson.open_json(handle, read_options=pajson.ReadOptions(block_size=2**20))
            except pa.ArrowInvalid as error:
                if "empty" in str(error).lower():
                    raise EmptyDatasetError(f"{path} is empty.") from error
                raise _parse_error(filesystem, path, 0, error) from error
            return self.with_overrides(promote_integers(reader.schema))

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        stream = self.open_range(filesystem, piece)
        if stream.empty:
            stream.close()
            return
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        try:
            reader = pajson.open_json(stream, read_options=pajson.ReadOptions(block_size=_READ_BLOCK,
                                                                             use_threads=False),
                                      parse_options=parse)
            for record_batch in reader:
                record_batch = record_batch.select(list(columns))
                for start in range(0, record_batch.num_rows, batch_size):
                    yield record_batch.slice(start, batch_size)
        except pa.ArrowInvalid as error:
            raise _parse_error(filesystem, piece.path, stream.data_start, error) from error
        finally:
            stream.close()


def _parse_error(filesystem: pafs.FileSystem | None, path: str, data_start: int,
                 error: Exception) -> ParseError:
    """Build an error naming the file and line (pyarrow counts rows from 0)."""
    message = str(error)
    row = _ROW.search(message)
    where = f"line {count_lines(filesystem, path, data_start) + int(row.group(1)) + 1}" if row \
        else f"from byte {data_start}"
    detail = message.split(" in row")[0].removeprefix("JSON parse error: ")
    return ParseError(f"{path}, {where}: cannot parse JSON ({detail}).")
