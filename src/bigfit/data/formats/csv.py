"""CSV files, split into byte blocks and read with pyarrow's streaming CSV reader."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs

from bigfit.data.formats.text import (
    DEFAULT_BLOCK_BYTES,
    TextFormat,
    count_lines,
    first_line,
    promote_integers,
)
from bigfit.data.pieces import Piece
from bigfit.exceptions import EmptyDatasetError, ParseError

_READ_BLOCK = 4 * 2**20
_INFER_BLOCK = 2**20
_ROW = re.compile(r"Row #(\d+)")
_COLUMN = re.compile(r"In CSV column #(\d+)")
_VALUE = re.compile(r"invalid value '(.*)'")


class CsvFormat(TextFormat):
    """Comma- (or otherwise-) separated text with an optional header row.

    Parameters
    ----------
    delimiter : str
        Field separator.
    header : bool
        Whether the first line of each file names the columns; if not, columns are
        named ``column0``, ``column1``, ...
    null_values : sequence of str, optional
        Strings read as missing (default: pyarrow's, such as "", "NA", "null").
    schema : pyarrow.Schema or mapping of column name to type, optional
        Types for some or all columns, overriding inference.
    quote_char : str
    block_bytes : int
        Size of the byte blocks files are split into.
    """

    name = "csv"
    extensions = (".csv", ".tsv", ".csv.gz", ".txt")

    def __init__(self, *, delimiter: str = ",", header: bool = True,
                 null_values: Sequence[str] | None = None,
                 schema: pa.Schema | Mapping[str, Any] | None = None, quote_char: str = '"',
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        super().__init__(schema=schema, block_bytes=block_bytes)
        self.delimiter = delimiter
        self.header = header
        self.null_values = list(null_values) if null_values is not None else None
        self.quote_char = quote_char

    def _parse_options(self, **extra: Any) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(delimiter=self.delimiter, quote_char=self.quote_char,
                                  newlines_in_values=False, **extra)

    def _convert_options(self, column_types: pa.Schema | None = None,
                         columns: Sequence[str] | None = None) -> pacsv.ConvertOptions:
        options: dict[str, Any] = {"strings_can_be_null": True}
        if self.null_values is not None:
            options["null_values"] = self.null_values
        if column_types is not None:
            options["column_types"] = column_types
        if columns is not None:
            options["include_columns"] = list(columns)
        return pacsv.ConvertOptions(**options)

    def _read_options(self, names: Sequence[str] | None = None) -> pacsv.ReadOptions:
        if self.header:
            return pacsv.ReadOptions(block_size=_READ_BLOCK, use_threads=False)
        return pacsv.ReadOptions(block_size=_READ_BLOCK, use_threads=False,
                                 column_names=list(names) if names else None,
                                 autogenerate_column_names=names is None)

    def infer_schema(self, filesystem: pafs.FileSystem, path: str) -> pa.Schema:
        with filesystem.open_input_file(path) as handle:
            read_options = self._read_options()
            read_options.block_size = _INFER_BLOCK
            try:
                reader = pacsv.open_csv(
                    handle, read_options=read_options,
                    parse_options=self._parse_options(invalid_row_handler=_raise_invalid_row),
                    convert_options=self._convert_options(self.schema_override))
            except pa.ArrowInvalid as error:
                if "Empty CSV file" in str(error):
                    raise EmptyDatasetError(f"{path} is empty.") from error
                raise self._parse_error(filesystem, path, 0, None, error) from error
            schema = promote_integers(reader.schema)
        if not self.header:
            schema = pa.schema([f.with_name(f"column{i}") for i, f in enumerate(schema)])
        return self.with_overrides(schema)

    def read(self, filesystem: pafs.FileSystem | None, piece: Piece, schema: pa.Schema,
             columns: Sequence[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        header = first_line(filesystem or pafs.LocalFileSystem(), piece.path) \
            if self.header and piece.byte_range and piece.byte_range[0] > 0 else b""
        stream = self.open_range(filesystem, piece, header)
        if stream.empty:
            stream.close()
            return
        read_options = self._read_options(None if self.header else schema.names)
        try:
            reader = pacsv.open_csv(
                stream, read_options=read_options,
                parse_options=self._parse_options(invalid_row_handler=_raise_invalid_row),
                convert_options=self._convert_options(schema, columns))
            for record_batch in reader:
                yield from _split(record_batch, batch_size)
        except pa.ArrowInvalid as error:
            raise self._parse_error(filesystem, piece.path, stream.data_start, schema, error,
                                    piece) from error
        finally:
            stream.close()

    def _parse_error(self, filesystem: pafs.FileSystem | None, path: str, data_start: int,
                     schema: pa.Schema | None, error: Exception, piece: Piece | None = None,
                     ) -> ParseError:
        """Build an error naming the file and line of the bad row."""
        message = str(error)
        lines_before = count_lines(filesystem, path, data_start)
        row = _ROW.search(message)
        column = _COLUMN.search(message)
        header_lines = 1 if self.header else 0
        first_line = lines_before + (header_lines if data_start == 0 else 0)
        name = None
        if column and schema is not None and int(column.group(1)) < len(schema):
            name = schema.names[int(column.group(1))]
        if name is None:
            if row is None:
                return ParseError(f"Cannot read {path} as CSV: {message}")
            detail = _ROW.sub("", message.split(": ", 1)[-1]).strip(": ")
            line = first_line + int(row.group(1)) - header_lines
            return ParseError(f"{path}, line {line}: cannot parse the row ({detail}).")
        assert schema is not None
        value = _VALUE.search(message)
        found = (int(row.group(1)) - header_lines, value.group(1) if value else None) if row \
            else self._find_bad_value(filesystem, piece, schema, name) if piece else None
        where = f"line {first_line + found[0]}" if found else f"from byte {data_start}"
        shown = f" value {found[1]!r}" if found and found[1] is not None else ""
        return ParseError(
            f"{path}, {where}, column {name!r}:{shown} is not a valid {schema.field(name).type}; "
            f"fix the file or pass schema={{{name!r}: 'string'}}.")

    def _find_bad_value(self, filesystem: pafs.FileSystem | None, piece: Piece,
                        schema: pa.Schema, name: str) -> tuple[int, str] | None:
        """Re-read a block with ``name`` as text and return (row, value) of the first bad value."""
        header = first_line(filesystem or pafs.LocalFileSystem(), piece.path) \
            if self.header and piece.byte_range and piece.byte_range[0] > 0 else b""
        as_text = pa.schema([f.with_type(pa.string()) if f.name == name else f for f in schema])
        with self.open_range(filesystem, piece, header) as stream:
            table = pacsv.read_csv(stream, read_options=self._read_options(
                None if self.header else schema.names), parse_options=self._parse_options(),
                convert_options=self._convert_options(as_text, [name]))
        target = schema.field(name).type
        for index, value in enumerate(table.column(name).to_pylist()):
            if value is not None and not _converts(value, target):
                return index + 1, value
        return None


def _converts(value: str, target: pa.DataType) -> bool:
    try:
        pa.array([value]).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _raise_invalid_row(row: Any) -> str:
    return "error"


def _split(record_batch: pa.RecordBatch, batch_size: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, record_batch.num_rows, batch_size):
        yield record_batch.slice(start, batch_size)
