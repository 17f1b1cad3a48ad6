"""Scan benchmark: bigfit's batch stream against the raw pyarrow scan floor.

Measured in one run, medians of ``--repeat`` runs:

- the scan floor: ``ParquetFile.iter_batches`` -> float32 numpy matrix, one process;
- bigfit's batch stream (``Dataset.batches``) over the same files and columns;
- a cached pass (``Dataset.cache``) against the first, decoding pass;
- ``profile`` (what ``bigfit inspect`` runs) on ``local[2]`` against ``local``;
- peak RSS of a full stream pass at 1M and at N rows with ``memory_limit="1GB"``.

Usage: ``python benchmarks/scan.py [--rows 10000000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _common import dataset, median_time, median_times, peak_rss_of, report


def scan_floor(files: list[str], numeric: list[str]) -> float:
    """Decode every column and copy the numeric ones into a float32 matrix: the floor.

    Like every pass here, it reads each value once more (a sum), as any consumer would.
    """
    total = 0.0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536, use_threads=False):
            X = np.empty((batch.num_rows, len(numeric)), dtype=np.float32)
            for j, name in enumerate(numeric):
                X[:, j] = batch.column(name).to_numpy()
            total += float(X.sum())
    return total


def stream(ds, prefetch: int | None = None) -> float:
    """A full pass of bigfit's batch stream, reading every value (a memory-mapped cached
    batch costs nothing until its values are read)."""
    return sum(float(batch.X.sum()) for batch in ds.batches(prefetch=prefetch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pa.set_cpu_count(1)

    from bigfit import Dataset
    from bigfit.data.profile import profile
    from bigfit.engine import get_engine

    path = dataset(args.rows)
    small = dataset(1_000_000)
    ds = Dataset(str(path), target="y")
    numeric = list(ds.numeric_features)
    files = ds.files
    results = {"rows": args.rows, "repeat": args.repeat}

    (floor, _), (bigfit_stream, _), (one_thread, _) = median_times(
        [lambda: scan_floor(files, numeric), lambda: stream(ds), lambda: stream(ds, prefetch=0)],
        args.repeat)
    results |= {"scan_floor_s": floor, "stream_s": bigfit_stream, "stream_no_prefetch_s": one_thread}

    with get_engine("local") as local, get_engine("local[2]") as pool:
        profile(Dataset(str(small), target="y"), engine=pool)  # start the worker processes
        (one, _), (two, _) = median_times([lambda: profile(ds, engine=local),
                                           lambda: profile(ds, engine=pool)], args.repeat)
    results |= {"inspect_local_s": one, "inspect_local2_s": two}

    # Where Dataset.cache() puts a cache that fits the memory budget: RAM, under /dev/shm.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    cache_dir = tempfile.mkdtemp(prefix="bigfit-bench-cache-", dir=shm)
    try:
        fresh = iter(range(10**6))
        first, _ = median_time(
            lambda: stream(Dataset(str(path), target="y").cache(f"{cache_dir}/{next(fresh)}")), args.repeat)
        cached_ds = ds.cache(f"{cache_dir}/kept")
        stream(cached_ds)
        cached, _ = median_time(lambda: stream(cached_ds), args.repeat)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    results |= {"first_pass_with_cache_write_s": first, "cached_pass_s": cached}

    code = ("from bigfit import Dataset\n"
            "ds = Dataset({path!r}, target='y', memory_limit='1GB')\n"
            "rows = 0\n"
            "for batch in ds.batches():\n"
            "    batch.X.sum()\n"
            "    rows += len(batch)\n"
            "result = {{'rows': rows}}")
    rss_small = peak_rss_of(code.format(path=str(small)))["peak_rss_mb"]
    rss_large = peak_rss_of(code.format(path=str(path)))["peak_rss_mb"]
    results |= {"peak_rss_1m_mb": rss_small, "peak_rss_n_mb": rss_large}

    mrows = args.rows / 1e6
    report(f"scan benchmark: {args.rows:,} rows x {len(numeric)} numeric + 2 categorical, "
           f"median of {args.repeat}", [
        ("scan floor (pyarrow -> float32)", f"{floor:.2f} s  ({mrows / floor:.2f} M rows/s)"),
        ("bigfit stream", f"{bigfit_stream:.2f} s  ({mrows / bigfit_stream:.2f} M rows/s)"),
        ("  stream speed / floor speed", f"{floor / bigfit_stream:.2f}x  (target >= 0.85x)"),
        ("bigfit stream, no read-ahead thread", f"{one_thread:.2f} s  ({mrows / one_thread:.2f} M rows/s)"),
        ("  one-thread stream speed / floor speed", f"{floor / one_thread:.2f}x"),
        ("first pass, writing the cache (RAM)", f"{first:.2f} s"),
        ("cached pass", f"{cached:.2f} s  ({mrows / cached:.2f} M rows/s)"),
        ("  cached speed-up over first pass", f"{first / cached:.2f}x  (target >= 3x)"),
        ("  cached speed-up over plain stream", f"{bigfit_stream / cached:.2f}x"),
        ("inspect on local", f"{one:.2f} s"),
        ("inspect on local[2]", f"{two:.2f} s"),
        ("  local[2] speed-up", f"{one / two:.2f}x  (target >= 1.6x)"),
        ("peak RSS, full pass, 1M rows", f"{rss_small:.0f} MB"),
        (f"peak RSS, full pass, {mrows:g}M rows", f"{rss_large:.0f} MB"),
        ("  RSS ratio", f"{rss_large / rss_small:.2f}x  (target <= 1.2x, and < 1 GB)"),
    ])
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
