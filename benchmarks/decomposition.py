"""PCA benchmark: bigfit's PCA against scikit-learn's IncrementalPCA and the scan floor.

One dataset from ``bigfit make-data`` (``--rows`` x 50 numeric + 2 categorical columns); every
method analyses the 50 numeric columns and keeps ``--components`` components.

Measured in one run, medians of ``--repeat`` interleaved runs, each fit in a fresh process
(for its peak RSS, and so that every run decodes Parquet), one thread for pyarrow and BLAS:

- the scan floor (``scan.scan_floor``: pyarrow -> float32, one thread), in this process;
- bigfit ``PCA(solver="covariance")`` on ``Dataset(path, features=numeric)``: one pass of
  mean and float64 scatter matrix (with bigfit's read-ahead thread decoding the next batch);
- bigfit ``PCA(solver="randomized")`` (``iterated_power=2``: four passes, read from the
  cache after the first), for information;
- scikit-learn ``IncrementalPCA.partial_fit`` over ``ParquetFile.iter_batches`` of the same
  numeric columns, in batches of bigfit's batch size;
- the exact answer: a float64 two-pass computation in this process (column means, then the
  scatter of the centred rows, then ``eigh``), not timed.  Each method's error is the largest
  relative error of its explained variances and the largest ``1 - |cos|`` angle between its
  components and the exact ones;
- peak RSS of bigfit's covariance fit at a tenth of the rows and at ``--rows`` (flat in rows).

Targets (on a quiet machine): covariance PCA <= 1.3x the scan floor, >= 5x faster than
IncrementalPCA, exact to 1e-6.

Usage: ``python benchmarks/decomposition.py [--rows 10000000] [--repeat 3] [--components 10] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import dataset, median_time, peak_rss_of, report
from scan import scan_floor

# Code run at the start of every fresh process: one thread for pyarrow and BLAS.
_PRELUDE = """
import os
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
import json, time
import numpy as np
import pyarrow as pa
pa.set_cpu_count(1)
"""

_BIGFIT = _PRELUDE + """
from bigfit import PCA, Dataset
data = Dataset({path!r}, features={numeric!r})
t0 = time.perf_counter()
model = PCA({k}, solver={solver!r}, iterated_power=2, random_state=0).fit(data)
seconds = time.perf_counter() - t0
result = {{"seconds": seconds, "passes": model.n_passes_, "batch_size": data.batch_size,
          "components": model.components_.tolist(), "variance": model.explained_variance_.tolist()}}
"""

_INCREMENTAL = _PRELUDE + """
import pyarrow.parquet as pq
from sklearn.decomposition import IncrementalPCA
files, numeric = {files!r}, {numeric!r}
t0 = time.perf_counter()
model = IncrementalPCA({k})
for path in files:
    for batch in pq.ParquetFile(path).iter_batches(batch_size={batch_size}, columns=numeric,
                                                   use_threads=False):
        X = np.column_stack([c.to_numpy() for c in batch.columns]).astype(np.float32)
        if len(X) >= {k}:
            model.partial_fit(X)
seconds = time.perf_counter() - t0
result = {{"seconds": seconds, "components": model.components_.tolist(),
          "variance": model.explained_variance_.tolist()}}
"""


def numeric_batches(files: list[str], numeric: list[str]):
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536, columns=numeric):
            yield np.column_stack([c.to_numpy() for c in batch.columns]).astype(np.float32).astype(np.float64)


def exact_pca(files: list[str], numeric: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Float64 two-pass PCA of the float32 values: (components, explained variances)."""
    n, total = 0, np.zeros(len(numeric))
    for X in numeric_batches(files, numeric):
        n += len(X)
        total += X.sum(axis=0)
    mean = total / n
    scatter = np.zeros((len(numeric), len(numeric)))
    for X in numeric_batches(files, numeric):
        X -= mean
        scatter += X.T @ X
    values, vectors = np.linalg.eigh(scatter)
    order = np.argsort(values)[::-1][:k]
    return vectors[:, order].T, values[order] / (n - 1)


def errors(run: dict, exact: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Largest relative error of the variances, and largest 1 - |cos| of the axes."""
    components, variance = np.asarray(run["components"]), np.asarray(run["variance"])
    variance_error = float(np.max(np.abs(variance - exact[1]) / exact[1]))
    cosines = np.abs(np.sum(components * exact[0], axis=1))
    return variance_error, float(np.max(1 - cosines))


def timed_runs(codes: dict[str, str], repeat: int) -> dict[str, dict]:
    """Run each child ``repeat`` times, interleaved; keep the last result and the median time."""
    runs: dict[str, list[dict]] = {name: [] for name in codes}
    for _ in range(repeat):
        for name, code in codes.items():
            runs[name].append(peak_rss_of(code))
    out = {}
    for name, results in runs.items():
        out[name] = results[-1] | {"seconds": statistics.median(r["seconds"] for r in results),
                                   "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows (default 10M; 1M with --quick)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a smoke run on 1M rows, one repeat")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    repeat = 1 if args.quick else args.repeat
    k = args.components
    pa.set_cpu_count(1)

    from bigfit import Dataset

    path, small = dataset(rows), dataset(max(rows // 10, 100_000))
    ds = Dataset(str(path), target="y")
    numeric, files = list(ds.numeric_features), ds.files
    batch_size = ds.batch_size

    def bigfit_code(where: Path, solver: str) -> str:
        return _BIGFIT.format(path=str(where), numeric=numeric, k=k, solver=solver)

    floor, _ = median_time(lambda: scan_floor(files, numeric), repeat)
    runs = timed_runs({
        "covariance": bigfit_code(path, "covariance"),
        "randomized": bigfit_code(path, "randomized"),
        "incremental": _INCREMENTAL.format(files=files, numeric=numeric, k=k, batch_size=batch_size),
    }, repeat)
    small_rss = peak_rss_of(bigfit_code(small, "covariance"))["peak_rss_mb"]
    exact = exact_pca(files, numeric, k)

    ours, randomized, peer = runs["covariance"], runs["randomized"], runs["incremental"]
    results = {"rows": rows, "repeat": repeat, "components": k, "scan_floor_s": floor,
               "small_rows": max(rows // 10, 100_000), "covariance_peak_rss_small_mb": small_rss}
    rows_out = [("scan floor (pyarrow -> float32)", f"{floor:.2f} s")]
    for name, run, label in ((("covariance", ours, "bigfit PCA, covariance (1 pass)"),
                             ("randomized", randomized, "bigfit PCA, randomized (q=2, 4 passes)"),
                             ("incremental", peer, "scikit-learn IncrementalPCA.partial_fit"))):
        variance_error, angle_error = errors(run, exact)
        results |= {f"{name}_s": run["seconds"], f"{name}_peak_rss_mb": run["peak_rss_mb"],
                    f"{name}_variance_error": variance_error, f"{name}_angle_error": angle_error}
        rows_out.append((label, f"{run['seconds']:.2f} s, peak RSS {run['peak_rss_mb']:.0f} MB, "
                                f"variance error {variance_error:.1e}, axis error {angle_error:.1e}"))
    rows_out += [
        ("  covariance time / scan floor", f"{ours['seconds'] / floor:.2f}x  (target <= 1.3x)"),
        ("  IncrementalPCA time / covariance time",
         f"{peer['seconds'] / ours['seconds']:.1f}x  (target >= 5x)"),
        ("  covariance variance error", f"{results['covariance_variance_error']:.1e}  (target <= 1e-6)"),
        (f"  covariance peak RSS, {results['small_rows']:,} rows -> {rows:,}",
         f"{small_rss:.0f} MB -> {ours['peak_rss_mb']:.0f} MB"),
    ]
    report(f"PCA benchmark: {rows:,} rows x {len(numeric)} numeric columns, {k} components, "
           f"median of {repeat}", rows_out)
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
