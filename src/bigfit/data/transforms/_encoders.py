"""Categorical encoders: from uint64 value hashes to int32 codes in one shared index space.

Column ``j`` owns the block of codes ``[offsets[j], offsets[j] + block_size[j])``, so a
model sees one index space (``n_codes`` one-hot columns) across every categorical
column.  Both encoders keep the last index of each block for a missing value (hash 0).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from bigfit.data._hashing import MISSING, mix_start

INT32_LIMIT = int(np.iinfo(np.int32).max)


class HashEncoder:
    """The hashing trick: ``offset_j + mix64(hash, seed) % n_buckets``.

    Column ``j`` owns ``n_buckets + 1`` codes from ``offset_j = j * (n_buckets + 1)``:
    the buckets, then ``offset_j + n_buckets`` for a missing value, which therefore
    never shares a code with a present value.

    Examples
    --------
    >>> import numpy as np
    >>> encoder = HashEncoder(n_columns=2, n_buckets=4, seed=0)
    >>> codes = encoder.encode(np.array([[12345, 0]], dtype=np.uint64))
    >>> int(codes[0, 0]) in range(4), int(codes[0, 1]), encoder.n_codes
    (True, 9, 10)
    """

    kind = "hash"

    def __init__(self, n_columns: int, n_buckets: int, seed: int) -> None:
        self.n_columns, self.n_buckets, self.seed = n_columns, n_buckets, seed

    @property
    def n_codes(self) -> int:
        """Size of the shared index space."""
        return self.n_columns * (self.n_buckets + 1)

    def encode(self, hashes: np.ndarray) -> np.ndarray:
        """Return int32 codes of shape ``hashes.shape`` (``(n_rows, n_columns)``)."""
        from bigfit.data._kernels import hash_codes  # imports numba: only when encoding

        codes = np.empty(hashes.shape, dtype=np.int32)
        hash_codes(np.ascontiguousarray(hashes, dtype=np.uint64), mix_start(self.seed),
                   self.n_buckets, codes)
        return codes

    def names(self, columns: list[str]) -> list[str]:
        """Return a name per code: ``city#17``, ..., ``city#<missing>``."""
        return [name for column in columns for name in
                [f"{column}#{b}" for b in range(self.n_buckets)] + [f"{column}#<missing>"]]

    def to_state(self) -> dict[str, Any]:
        """Return the encoder as plain data (see :func:`encoder_from_state`)."""
        return {"kind": self.kind, "n_columns": self.n_columns, "n_buckets": self.n_buckets,
                "seed": self.seed}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HashEncoder:
        """Rebuild the encoder saved by :meth:`to_state`."""
        return cls(int(state["n_columns"]), int(state["n_buckets"]), int(state["seed"]))


class VocabularyEncoder:
    """One-hot index from a vocabulary per column: ``[values..., other, missing]``.

    A column's vocabulary is a sorted uint64 array of value hashes (looked up with
    ``np.searchsorted``); a value outside it gets the "other" code, a missing value the
    last code of the block.  ``labels[j][i]`` is the text shown for ``vocabularies[j][i]``.

    Examples
    --------
    >>> import numpy as np
    >>> encoder = VocabularyEncoder([np.array([5, 9], dtype=np.uint64)], [["a", "b"]])
    >>> encoder.encode(np.array([[9], [5], [7], [0]], dtype=np.uint64)).ravel().tolist()
    [1, 0, 2, 3]
    >>> encoder.names(["letter"])
    ['letter=a', 'letter=b', 'letter=<other>', 'letter=<missing>']
    """

    kind = "onehot"

    def __init__(self, vocabularies: list[np.ndarray], labels: list[list[str]]) -> None:
        self.vocabularies = [np.asarray(v, dtype=np.uint64) for v in vocabularies]
        self.labels = labels
        # Per column, lookup keys [0, v_0, ..., v_k-1] (0, the missing hash, sorts first)
        # and their codes [missing, offset + 0, ..., offset + k-1]; "other" is offset + k.
        self._keys, self._codes, self._other = [], [], []
        offset = 0
        for vocabulary in self.vocabularies:
            size = len(vocabulary)
            self._keys.append(np.concatenate([[MISSING], vocabulary]).astype(np.uint64))
            self._codes.append(np.arange(offset - 1, offset + size, dtype=np.int32))
            self._codes[-1][0] = offset + size + 1
            self._other.append(np.int32(offset + size))
            offset += size + 2
        self._n_codes = offset

    @property
    def n_codes(self) -> int:
        """Size of the shared index space."""
        return self._n_codes

    def encode(self, hashes: np.ndarray) -> np.ndarray:
        """Return int32 codes of shape ``hashes.shape`` (``(n_rows, n_columns)``)."""
        codes = np.empty(hashes.shape, dtype=np.int32)
        for j, (keys, table) in enumerate(zip(self._keys, self._codes, strict=True)):
            column = hashes[:, j]
            # The largest key <= each value (never before keys[0] = 0); a hit or "other".
            position = np.searchsorted(keys, column, side="right")
            position -= 1
            codes[:, j] = np.where(keys[position] == column, table[position], self._other[j])
        return codes

    def names(self, columns: list[str]) -> list[str]:
        """Return a name per code: ``city=paris``, ..., ``city=<other>``, ``city=<missing>``."""
        return [name for column, labels in zip(columns, self.labels, strict=True) for name in
                [f"{column}={label}" for label in labels]
                + [f"{column}=<other>", f"{column}=<missing>"]]

    def to_state(self) -> dict[str, Any]:
        """Return the encoder as plain data: the vocabularies concatenated, with their sizes."""
        sizes = [len(v) for v in self.vocabularies]
        return {"kind": self.kind,
                "vocabulary": np.concatenate([np.zeros(0, np.uint64), *self.vocabularies]),
                "sizes": np.array(sizes, dtype=np.int64),
                "labels": [label for labels in self.labels for label in labels]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> VocabularyEncoder:
        """Rebuild the encoder saved by :meth:`to_state`."""
        bounds = np.concatenate([[0], np.cumsum(state["sizes"])]).astype(int).tolist()
        vocabulary = np.asarray(state["vocabulary"], dtype=np.uint64)
        labels = list(state["labels"])
        pairs = itertools.pairwise(bounds)
        vocabularies, label_lists = [], []
        for start, stop in pairs:
            vocabularies.append(vocabulary[start:stop].copy())
            label_lists.append(labels[start:stop])
        return cls(vocabularies, label_lists)


Encoder = HashEncoder | VocabularyEncoder


def encoder_from_state(state: dict[str, Any]) -> Encoder:
    """Rebuild the encoder saved by its ``to_state``."""
    kinds: dict[str, type[HashEncoder] | type[VocabularyEncoder]] = {
        "hash": HashEncoder, "onehot": VocabularyEncoder}
    return kinds[state["kind"]].from_state(state)
