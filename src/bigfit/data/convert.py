"""Arrow record batches to :class:`~bigfit.data.batch.Batch`: one copy into float32."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bigfit.data._arrays import to_numpy, valid_mask
from bigfit.data._hashing import hash_array, mix64
from bigfit.data.batch import Batch
from bigfit.data.schema import DATETIME_PARTS, Layout

_DATETIME_FUNCTIONS = {
    "year": pc.year, "month": pc.month, "day": pc.day,
    "weekday": pc.day_of_week, "hour": pc.hour,
}


def to_batch(record_batch: pa.RecordBatch, layout: Layout, row_id: np.ndarray | None = None) -> Batch:
    """Convert a record batch to a batch of numpy arrays, following ``layout``."""
    n = record_batch.num_rows
    width = len(layout.numeric) + len(DATETIME_PARTS) * len(layout.datetime)
    X = np.empty((n, width), dtype=np.float32)
    for j, name in enumerate(layout.numeric):
        X[:, j] = numeric_values(record_batch.column(name))
    column = len(layout.numeric)
    for name in layout.datetime:
        values = record_batch.column(name)
        for part in DATETIME_PARTS:
            X[:, column] = _datetime_part(values, part)
            column += 1
    hashes = None
    if layout.categorical:
        hashes = np.empty((n, len(layout.categorical)), dtype=np.uint64)
        for j, name in enumerate(layout.categorical):
            hashes[:, j] = hash_array(record_batch.column(name))
    y = target_values(record_batch.column(layout.target)) if layout.target else None
    w = numeric_values(record_batch.column(layout.weight)).astype(np.float32) if layout.weight else None
    extra = {name: target_values(record_batch.column(name)) for name in layout.passthrough} \
        if layout.passthrough else None
    return Batch(X=X, y=y, w=w, hashes=hashes, row_id=row_id, extra=extra)


def numeric_values(array: pa.Array) -> np.ndarray:
    """Return a numeric array as numpy (zero-copy when it has no nulls), nulls as NaN."""
    if pa.types.is_decimal(array.type):
        array = pc.cast(array, pa.float64())
    return to_numpy(array)


def target_values(array: pa.Array) -> np.ndarray:
    """Return the target as numpy: numbers stay numeric, labels become an object array."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_decimal(array.type):
        return numeric_values(array)
    return to_numpy(array)


def _datetime_part(values: pa.Array, part: str) -> np.ndarray:
    if part == "hour" and pa.types.is_date(values.type):
        return np.where(valid_mask(values), 0.0, np.nan)
    return numeric_values(_DATETIME_FUNCTIONS[part](values))


def row_ids(file_id: int, first: int, n: int, *, block: int | None = None) -> np.ndarray:
    """Stable 64-bit row identifiers for ``n`` rows starting at position ``first``.

    Rows are identified by their file and position in it, or for text formats by
    their block and position in the block.
    """
    positions = np.arange(first, first + n, dtype=np.uint64)
    if block is not None:
        positions |= np.uint64(block) << np.uint64(32)
    return mix64(positions, seed=file_id)
