"""Numbers and booleans between Arrow arrays and numpy, without importing pandas.

pyarrow's ``Array.to_numpy`` and ``pa.array(ndarray)`` import pandas when it is installed,
even for plain numbers: about 0.2 s and 40 MB in a fresh worker process that has no other
use for it.  The read path converts only numbers, booleans and validity masks, through
these functions; other types still go through pyarrow.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def raw_values(array: pa.Array) -> np.ndarray:
    """Return the values of a numeric or boolean array (zero-copy for numbers).

    Entries at null positions are unspecified: mask them with :func:`valid_mask`.
    """
    n, kind = len(array), array.type
    buffer = array.buffers()[1] if n else None  # None also for a cast of an all-null array
    if pa.types.is_boolean(kind):
        if buffer is None:
            return np.zeros(n, dtype=bool)
        bits = np.frombuffer(buffer, dtype=np.uint8)
        unpacked = np.unpackbits(bits, count=array.offset + n, bitorder="little")
        return unpacked[array.offset:].view(bool)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise TypeError(f"Expected a numeric or boolean Arrow array, got {kind}.")
    dtype = np.dtype(kind.to_pandas_dtype())
    if buffer is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype, count=n, offset=array.offset * dtype.itemsize)


def filled_values(array: pa.Array, fill: float) -> np.ndarray:
    """Return :func:`raw_values` with ``fill`` at the nulls (a view when there are none)."""
    values = raw_values(array)
    return values if array.null_count == 0 else np.where(valid_mask(array), values, fill)


def valid_mask(array: pa.Array) -> np.ndarray:
    """Return True where ``array`` holds a value, False at nulls."""
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    return raw_values(array.is_valid())


def to_numpy(array: pa.Array) -> np.ndarray:
    """Return ``array.to_numpy(zero_copy_only=False)``, without pandas for numbers.

    Numbers without nulls come as a read-only view; with nulls, integers become float64
    and nulls NaN, as pyarrow does.  Other arrays (strings, booleans with nulls, ...)
    are converted by pyarrow.
    """
    kind = array.type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    if not (numeric or (pa.types.is_boolean(kind) and array.null_count == 0)):
        return array.to_numpy(zero_copy_only=False)
    result = raw_values(array)
    if array.null_count == 0:
        return result
    result = result.astype(np.float64) if pa.types.is_integer(kind) else result.copy()
    result[~valid_mask(array)] = np.nan
    return result


def from_numpy(array: np.ndarray) -> pa.Array:
    """Return a 1-d numeric or boolean numpy array as an Arrow array without nulls."""
    if array.ndim != 1:
        raise ValueError(f"Expected a 1-d array, got shape {array.shape}.")
    if array.dtype == bool:
        bits = np.packbits(array, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(array), [None, pa.py_buffer(bits)])
    kind = pa.from_numpy_dtype(array.dtype)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        raise TypeError(f"Expected a numeric or boolean array, got dtype {array.dtype}.")
    data = np.ascontiguousarray(array)
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])
