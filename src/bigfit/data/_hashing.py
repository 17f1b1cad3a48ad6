"""Vectorised, seeded 64-bit hashing of Arrow arrays (no Python loop over values).

Used for categorical values (hashing trick, one-hot vocabularies, distinct-count
sketches) and for row identifiers of the holdout split.  Hashes are stable across
processes, platforms and versions of numpy and pyarrow.  The splitmix64 finaliser that
spreads them runs as a compiled loop (:mod:`bigfit.data._kernels`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bigfit.data._arrays import filled_values, raw_values, valid_mask

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(0x100000001B3)
MISSING = np.uint64(0)


def mix64(values: np.ndarray, seed: int = 0) -> np.ndarray:
    """Return the splitmix64 finaliser of ``values + seed``: a well-spread uint64 hash."""
    from bigfit.data._kernels import splitmix64  # imports numba: only when hashing

    z = values.astype(np.uint64, order="C", copy=True)
    splitmix64(z.reshape(-1), mix_start(seed))
    return z


def mix_start(seed: int) -> np.uint64:
    """The offset :func:`mix64` adds to values before mixing them, for ``seed``."""
    with np.errstate(over="ignore"):
        return np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + _GOLDEN


def hash_bytes(data: bytes | str, seed: int = 0) -> int:
    """Return the hash of a single string, equal to :func:`hash_array` on it."""
    return int(hash_array(pa.array([data]), seed)[0])


def hash_array(array: pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """Return a uint64 hash per value; missing values hash to 0.

    Strings and binaries are hashed on their bytes, dictionary arrays through their
    (small) dictionary, booleans and numbers on their value.
    """
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 0:
            return np.zeros(0, dtype=np.uint64)
        return np.concatenate([hash_array(chunk, seed) for chunk in array.chunks])
    if pa.types.is_dictionary(array.type):
        dictionary = hash_array(array.dictionary, seed)
        indices = filled_values(array.indices, 0)
        out = dictionary[indices.astype(np.intp, copy=False)]
    elif pa.types.is_string(array.type) or pa.types.is_binary(array.type) or \
            pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type):
        out = _hash_binary(array, seed)
    elif pa.types.is_boolean(array.type):
        out = mix64(raw_values(array).astype(np.uint64) + 1, seed)
    else:
        if pa.types.is_temporal(array.type):  # dates and times hash by their integer value
            array = pc.cast(array, pa.int64() if array.type.bit_width == 64 else pa.int32())
        out = mix64(raw_values(pc.cast(array, pa.float64())).view(np.uint64), seed)
    out[out == MISSING] = 1  # keep 0 for "missing"
    if array.null_count:
        out[~valid_mask(array)] = MISSING
    return out


def _hash_binary(array: pa.Array, seed: int) -> np.ndarray:
    """Polynomial hash of each value's bytes, computed with ``np.add.reduceat``."""
    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    large = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64 if large else np.int32)
    offsets = offsets[array.offset: array.offset + n + 1].astype(np.int64)
    start, stop = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(buffers[2], dtype=np.uint8)[start:stop] if buffers[2] is not None \
        else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    if len(data) == 0:
        return mix64(lengths.astype(np.uint64), seed)
    position = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1] - start, lengths)
    powers = _powers(int(lengths.max()))
    with np.errstate(over="ignore"):
        terms = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
        starts = offsets[:-1] - start
        nonempty = lengths > 0
        sums = np.zeros(n, dtype=np.uint64)
        sums[nonempty] = np.add.reduceat(terms, starts[nonempty])
        sums += lengths.astype(np.uint64) * _GOLDEN
    return mix64(sums, seed)


_POWER_CACHE = np.ones(1, dtype=np.uint64)


def _powers(length: int) -> np.ndarray:
    global _POWER_CACHE
    if len(_POWER_CACHE) < length:
        size = max(length, 2 * len(_POWER_CACHE))
        with np.errstate(over="ignore"):
            steps = np.full(size, _PRIME, dtype=np.uint64)
            steps[0] = 1
            _POWER_CACHE = np.multiply.accumulate(steps, dtype=np.uint64)
    return _POWER_CACHE
