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
    return median_times([fn], repeat)[0]


def median_times(fns: list[Callable[[], object]], repeat: int) -> list[tuple[float, list[float]]]:
    """Time several functions in turn, interleaved (a, b, a, b, ...) so that a slow spell of
    the machine hits them alike; return each one's median and timings."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, record in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [(statistics.median(t), t) for t in times]


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


_RESET_PEAK = "open('/proc/self/clear_refs', 'w').write('5')\n"
_READ_PEAK = """
import json as _j
_hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))
print(_j.dumps({**result, 'peak_rss_mb': int(_hwm.split()[1]) / 1024}))
"""


def peak_rss_of(code: str) -> dict:
    """Run ``code`` in a fresh interpreter that sets ``result`` (a dict); add its peak RSS in MB.

    The peak is read from ``VmHWM`` after resetting it at start: ``ru_maxrss`` would include
    the parent's peak, which a child inherits across fork and exec on Linux.
    """
    wrapper = _RESET_PEAK + code + _READ_PEAK
    out = subprocess.run([sys.executable, "-c", wrapper], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(title: str, rows: list[tuple[str, str]]) -> None:
    """Print a two-column table."""
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * len(title))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
