"""The mini-batch that every stream yields."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True, slots=True)
class Batch:
    """A mini-batch of rows, ready for numpy.

    Attributes
    ----------
    X : ndarray of shape (n_rows, n_numeric), float32, C-contiguous
        Numeric features (numeric columns, then the parts of datetime columns).
        Missing values are NaN until an imputer fills them.
    y : ndarray of shape (n_rows,) or None
        The target column (numeric dtype, or object for string labels).
    w : ndarray of shape (n_rows,), float32, or None
        Sample weights from the weight column.
    hashes : ndarray of shape (n_rows, n_categorical), uint64, or None
        A 64-bit hash of each categorical value (0 marks a missing value).
        Encoders turn these into ``codes``.
    codes : ndarray of shape (n_rows, n_categorical), int32, or None
        After encoding: the index of each row's active one-hot column in each
        categorical feature, already offset into one shared index space.
    row_id : ndarray of shape (n_rows,), uint64, or None
        A stable identifier of each row (source file and position), used by the
        holdout split and for debugging.
    extra : dict of str to ndarray, or None
        Passthrough columns (ids, keys) carried alongside the features untouched.
    """

    X: np.ndarray
    y: np.ndarray | None = None
    w: np.ndarray | None = None
    hashes: np.ndarray | None = None
    codes: np.ndarray | None = None
    row_id: np.ndarray | None = None
    extra: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of rows in the batch."""
        return int(self.X.shape[0])

    def replace(self, **changes: object) -> Batch:
        """Return a copy of this batch with some fields replaced."""
        return replace(self, **changes)

    def take(self, index: np.ndarray | slice) -> Batch:
        """Return the rows selected by ``index`` (a boolean mask, integer index or slice)."""
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == bool:
                index = np.flatnonzero(index)  # then np.take: twice as fast as a mask

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            return a[index] if isinstance(index, slice) else np.take(a, index, axis=0)

        return Batch(
            X=np.ascontiguousarray(pick(self.X)),
            y=pick(self.y),
            w=pick(self.w),
            hashes=pick(self.hashes),
            codes=pick(self.codes),
            row_id=pick(self.row_id),
            extra=None if self.extra is None else {k: pick(v) for k, v in self.extra.items()},
        )

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        """Concatenate batches with the same layout into one."""
        if len(batches) == 1:
            return batches[0]

        def cat(name: str) -> np.ndarray | None:
            parts = [getattr(b, name) for b in batches]
            return None if parts[0] is None else np.concatenate(parts)

        extra = None
        if batches[0].extra is not None:
            extra = {k: np.concatenate([b.extra[k] for b in batches]) for k in batches[0].extra}
        return Batch(X=cat("X"), y=cat("y"), w=cat("w"), hashes=cat("hashes"),
                     codes=cat("codes"), row_id=cat("row_id"), extra=extra)
