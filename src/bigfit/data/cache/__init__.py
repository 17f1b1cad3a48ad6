"""The binary cache of decoded data, like Vowpal Wabbit's cache file.

The first pass over a piece decodes Parquet, CSV, JSON or IPC through the dataset's
reader and writes the decoded arrays (float32 features, uint64 hashes, target, weights,
row ids) to a local directory while the batches stream by; later passes memory-map
those arrays and yield batches as views, with no decoding and no copy.  Get one with
:meth:`bigfit.Dataset.cache`.

The cache lives in RAM (``/dev/shm``, shared by every worker process of the machine),
in a local cache directory (``BIGFIT_CACHE_DIR`` or ``~/.cache/bigfit``) or in a given
directory.  Entries are keyed by the piece, the columns read, their roles and types,
and the format's options, and versioned by the source file's size, modification time
(and entity tag for object stores), so that a changed file is decoded again.
"""

from __future__ import annotations

from bigfit.data.cache._entry import MappedEntry, open_entry
from bigfit.data.cache._key import piece_key, source_token
from bigfit.data.cache._location import estimate_cache_bytes, memory_session, resolve_location
from bigfit.data.cache._reader import CachingReader, cached_reader
from bigfit.data.cache._writer import EntryWriter

__all__ = ["CachingReader", "EntryWriter", "MappedEntry", "cached_reader", "estimate_cache_bytes",
           "memory_session", "open_entry", "piece_key", "resolve_location", "source_token"]
