"""Helpers shared by the benchmark scripts: timing, peak memory, test data."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DATA_DIR = Path(os.environ.get("BIGFIT_BENCH_DATA", Path(__file__).resolve().parent.parent / "bench-data"))


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, list[float]]:
    """Run ``fn`` ``repeat`` times; return the median and all timings in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def dataset(rows: int, *, kind: str = "classification", n_numeric: int = 50, n_categorical: int = 2,
            fmt: str = "parquet") -> Path:
    """Return a generated dataset directory, making it with ``bigfit make-data`` once."""
    path = DATA_DIR / f"{kind}-{rows}-{n_numeric}x{n_categorical}-{fmt}"
    if not (path / "_truth.json").exists():
        from bigfit.data.synthetic import make_dataset

        print(f"making {path.name} ...", flush=True)
        make_dataset(path, rows=rows, kind=kind, n_numeric=n_numeric, n_categorical=n_categorical,
                     format=fmt, overwrite=True)
    return path


def peak_rss_of(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it must print a JSON dict. Adds its peak RSS in MB."""
    wrapper = (code + "\nimport resource, json as _j\n"
               "print(_j.dumps({**result, 'peak_rss_mb': "
               "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column table."""
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * len(title))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
