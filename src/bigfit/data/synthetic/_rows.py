"""Any range of rows of a synthetic dataset, as Arrow record batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from bigfit.data.synthetic._model import BLOCK_ROWS, Block, Model


class RowSource:
    """Serves row ranges of a model's rows, drawing each block once when read in order.

    Parameters
    ----------
    model : Model
        The generating model.
    """

    def __init__(self, model: Model) -> None:
        self._model = model
        self._schema = model.schema()
        self._dictionaries = [
            pa.array([f"c{k}_{i}" for i in range(levels)], pa.string())
            for k, levels in enumerate(model.spec.levels)
        ]
        self._cached: tuple[int, Block] | None = None

    def batches(self, start: int, stop: int, size: int) -> Iterator[pa.RecordBatch]:
        """Yield rows ``start`` to ``stop`` as record batches of at most ``size`` rows."""
        for low in range(start, stop, size):
            yield self._record_batch(self._rows(low, min(low + size, stop)))

    def _rows(self, start: int, stop: int) -> Block:
        parts = []
        for index in range(start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS + 1):
            offset = index * BLOCK_ROWS
            parts.append(self._block(index).slice(max(start - offset, 0),
                                                  min(stop - offset, BLOCK_ROWS)))
        return Block.concat(parts)

    def _block(self, index: int) -> Block:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._model.block(index))
        return self._cached[1]

    def _record_batch(self, rows: Block) -> pa.RecordBatch:
        n_numeric, n_categorical = rows.numeric.shape[0], rows.codes.shape[0]
        masks: list[Any] = [None] * (n_numeric + n_categorical)
        if rows.missing is not None:
            masks = list(rows.missing)
        arrays: list[pa.Array] = [
            pa.array(values, pa.float64(), mask=mask)  # zero-copy without a mask
            for values, mask in zip(rows.numeric, masks[:n_numeric], strict=True)
        ]
        for codes, dictionary, mask in zip(rows.codes, self._dictionaries,
                                           masks[n_numeric:], strict=True):
            indices = pa.array(codes, pa.int32(), mask=mask)
            arrays.append(pa.DictionaryArray.from_arrays(indices, dictionary))
        arrays.append(pa.array(rows.y))
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)
