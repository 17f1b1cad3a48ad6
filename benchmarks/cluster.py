"""k-means benchmark: bigfit's KMeans against scikit-learn's MiniBatchKMeans and KMeans.

One dataset from ``bigfit make-data --kind blobs`` (``--rows`` x 20 numeric columns, 50 blobs),
clustered with k=50 in the raw feature space (no standardisation), so every method's inertia
is measured in the same units, by the same streamed float64 scorer over every row.

- Mini-batch: bigfit ``KMeans(algorithm="minibatch").fit`` (one epoch, early stopping on)
  against scikit-learn ``MiniBatchKMeans.partial_fit`` over ``ParquetFile.iter_batches`` of
  the same batch size (one epoch; decoding included in both).  Both record their centres at
  checkpoints (about 50 per epoch, and after the last step) with the time spent so far
  (bigfit's through an ``on_step_end`` callback, so its first pass counts).  After the runs,
  this process scores every checkpoint over all rows; the target is the peer's final
  inertia, and each side's time is that of its first checkpoint at or below the target.
  Ratio: the peer's time to the target over bigfit's.  The whole ``fit`` (with its final
  inertia pass for ``inertia_``) is reported too.
- Lloyd: bigfit ``KMeans(algorithm="lloyd")`` (k-means|| and Lloyd to ``tol``) against
  scikit-learn ``KMeans`` on the whole data in memory (loading not timed): time, peak RSS
  and inertia; bigfit's peak RSS is also measured at a tenth of the rows (flat in rows).

Each fit runs in a fresh process (for its peak RSS); "local" runs use one BLAS thread.

Usage: ``python benchmarks/cluster.py [--rows 5000000] [--engine local] [--quick]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import DATA_DIR, peak_rss_of, report

K = 50
N_NUMERIC = 20
BATCH = 1024
SEED = 0

_PRELUDE = """
import os
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
import json, time
import numpy as np
import pyarrow.parquet as pq
from pathlib import Path
FILES = sorted(Path({path!r}).glob("*.parquet"))
COLUMNS = [f"f{{j}}" for j in range({n_numeric})]

def batches(size):
    for name in FILES:
        for rb in pq.ParquetFile(name).iter_batches(batch_size=size, columns=COLUMNS):
            yield np.column_stack([c.to_numpy() for c in rb.columns]).astype(np.float32)

def inertia(centers):
    centers = np.asarray(centers, dtype=np.float64)
    total = 0.0
    for X in batches(16_384):  # small batches: the scorer must not set the peak RSS
        X = X.astype(np.float64)
        d2 = (X**2).sum(1)[:, None] - 2 * X @ centers.T + (centers**2).sum(1)
        total += float(np.maximum(d2.min(1), 0).sum())
    return total
"""

_BIGFIT_MINIBATCH = _PRELUDE + """
import sklearn.cluster  # bigfit's k-means++ uses it: imports are untimed on both sides
from bigfit import Dataset, KMeans
from bigfit.models.callbacks import Callback

class Checkpoints(Callback):
    def __init__(self):
        self.points, self.last = [], None
    def on_step_end(self, step, centers):
        self.last = (step, centers)
        if step % {every} == 0:
            self.points.append((time.perf_counter() - t0, centers().tolist()))
    def on_epoch_end(self, epoch, logs):  # the last step's centres, at the time of the last step
        seconds = time.perf_counter() - t0
        if self.last is not None and self.last[0] % {every}:
            self.points.append((seconds, self.last[1]().tolist()))

checkpoints = Checkpoints()
t0 = time.perf_counter()
model = KMeans({k}, algorithm="minibatch", batch_size={batch}, random_state={seed}, engine={engine!r},
               max_iter=1, memory_limit="1GB").fit(Dataset({path!r}, target="y"), callbacks=[checkpoints])
seconds = time.perf_counter() - t0
result = {{"seconds": seconds, "checkpoints": checkpoints.points, "n_steps": model.n_steps_,
          "inertia": inertia(model.cluster_centers_), "reported_inertia": model.inertia_}}
"""

_BIGFIT = _PRELUDE + """
from bigfit import Dataset, KMeans
t0 = time.perf_counter()
model = KMeans({k}, algorithm={algorithm!r}, batch_size={batch}, random_state={seed}, engine={engine!r},
               max_iter={max_iter}, memory_limit="1GB").fit(Dataset({path!r}, target="y"))
seconds = time.perf_counter() - t0
result = {{"seconds": seconds, "inertia": inertia(model.cluster_centers_), "n_iter": model.n_iter_,
          "reported_inertia": model.inertia_}}
"""

_MINIBATCH_PEER = _PRELUDE + """
from sklearn.cluster import MiniBatchKMeans
model = MiniBatchKMeans({k}, batch_size={batch}, random_state={seed}, n_init=1)
points, steps = [], 0
t0 = time.perf_counter()
for X in batches({batch}):
    if len(X) >= {k}:
        model.partial_fit(X)
        steps += 1
        if steps % {every} == 0:
            points.append((time.perf_counter() - t0, model.cluster_centers_.tolist()))
seconds = time.perf_counter() - t0
if steps % {every}:
    points.append((seconds, model.cluster_centers_.tolist()))
result = {{"seconds": seconds, "checkpoints": points, "n_steps": steps,
          "inertia": inertia(model.cluster_centers_)}}
"""

_LLOYD_PEER = _PRELUDE + """
os.environ.pop("OMP_NUM_THREADS")
from sklearn.cluster import KMeans
X = np.vstack(list(batches(262_144)))
t0 = time.perf_counter()
model = KMeans({k}, random_state={seed}, n_init=1).fit(X)
seconds = time.perf_counter() - t0
result = {{"seconds": seconds, "inertia": inertia(model.cluster_centers_), "n_iter": int(model.n_iter_)}}
"""


def blobs(rows: int) -> Path:
    """The benchmark's dataset in bench-data/, made once."""
    path = DATA_DIR / f"blobs-{rows}-{N_NUMERIC}x0-k{K}-parquet"
    if not (path / "_truth.json").exists():
        from bigfit.data.synthetic import make_dataset

        print(f"making {path.name} ...", flush=True)
        make_dataset(path, rows=rows, kind="blobs", n_numeric=N_NUMERIC, n_categorical=0, n_clusters=K,
                     seed=SEED, overwrite=True)
    return path


def run(code: str, **values: object) -> dict:
    return peak_rss_of(code.format(k=K, batch=BATCH, seed=SEED, n_numeric=N_NUMERIC, **values))


def load_rows(path: str) -> np.ndarray:
    """Every row's features, float32, in this process (to score checkpoints after the runs)."""
    import pyarrow.parquet as pq

    columns = [f"f{j}" for j in range(N_NUMERIC)]
    parts = [np.column_stack([c.to_numpy() for c in rb.columns]).astype(np.float32)
             for name in sorted(Path(path).glob("*.parquet"))
             for rb in pq.ParquetFile(name).iter_batches(batch_size=262_144, columns=columns)]
    return np.vstack(parts)


def inertia_of(X: np.ndarray, centers: list) -> float:
    """The same float64 scorer as the runs' ``inertia``, over rows in memory."""
    c = np.asarray(centers, dtype=np.float64)
    total = 0.0
    for start in range(0, len(X), 65_536):
        part = X[start:start + 65_536].astype(np.float64)
        d2 = (part**2).sum(1)[:, None] - 2 * part @ c.T + (c**2).sum(1)
        total += float(np.maximum(d2.min(1), 0).sum())
    return total


def time_to(target: float, checkpoints: list, X: np.ndarray) -> tuple[float, float] | None:
    """Seconds and inertia of the first checkpoint whose inertia is at most ``target``."""
    for seconds, centers in checkpoints:
        value = inertia_of(X, centers)
        if value <= target:
            return seconds, value
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows (default 5M; 500k with --quick)")
    parser.add_argument("--engine", default="local", help="bigfit's engine (default local)")
    parser.add_argument("--quick", action="store_true", help="a smoke run on 500k rows")
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.quick else 5_000_000)
    path, small = str(blobs(rows)), str(blobs(rows // 10))

    # One epoch, as the peer: early stopping may end it sooner.
    every = max(1, rows // BATCH // 50)
    ours_mb = run(_BIGFIT_MINIBATCH, path=path, engine=args.engine, every=every)
    peer_mb = run(_MINIBATCH_PEER, path=path, every=every)
    ours_lloyd = run(_BIGFIT, path=path, algorithm="lloyd", engine=args.engine, max_iter=300)
    ours_small = run(_BIGFIT, path=small, algorithm="lloyd", engine=args.engine, max_iter=300)
    peer_lloyd = run(_LLOYD_PEER, path=path)

    X = load_rows(path)
    target = inertia_of(X, peer_mb["checkpoints"][-1][1])
    ours_at = time_to(target, ours_mb.pop("checkpoints"), X)
    peer_at = time_to(target, peer_mb.pop("checkpoints"), X)
    del X
    assert peer_at is not None
    ours_mb["time_to_target"], peer_mb["time_to_target"] = ours_at, peer_at
    speedup = f"{peer_at[0] / ours_at[0]:.2f}x" if ours_at else \
        f"target missed (final inertia {ours_mb['inertia'] / target:.4f}x the peer's)"
    reach = f"{ours_at[0]:.2f} s (inertia {ours_at[1]:.6g})" if ours_at else "never"
    report(f"mini-batch k-means, k={K}, {rows:,} x {N_NUMERIC} blobs, batch {BATCH}", [
        ("bigfit minibatch: to the target", reach),
        ("bigfit minibatch: whole fit",
         f"{ours_mb['seconds']:.2f} s, inertia {ours_mb['inertia']:.6g}, {ours_mb['n_steps']} steps, "
         f"peak RSS {ours_mb['peak_rss_mb']:.0f} MB"),
        ("sklearn partial_fit: to the target", f"{peer_at[0]:.2f} s (inertia {peer_at[1]:.6g})"),
        ("sklearn partial_fit: whole epoch",
         f"{peer_mb['seconds']:.2f} s, inertia {peer_mb['inertia']:.6g} (the target), "
         f"peak RSS {peer_mb['peak_rss_mb']:.0f} MB"),
        ("speed-up to the peer's final inertia", speedup),
    ])
    report(f"Lloyd k-means, k={K}", [
        ("bigfit lloyd", f"{ours_lloyd['seconds']:.2f} s, inertia {ours_lloyd['inertia']:.6g}, "
                         f"{ours_lloyd['n_iter']} iterations, peak RSS {ours_lloyd['peak_rss_mb']:.0f} MB"),
        (f"bigfit lloyd on {rows // 10:,} rows", f"peak RSS {ours_small['peak_rss_mb']:.0f} MB"),
        ("sklearn KMeans in memory", f"{peer_lloyd['seconds']:.2f} s, inertia {peer_lloyd['inertia']:.6g}, "
                                     f"{peer_lloyd['n_iter']} iterations, peak RSS "
                                     f"{peer_lloyd['peak_rss_mb']:.0f} MB"),
        ("inertia ratio (bigfit / sklearn)", f"{ours_lloyd['inertia'] / peer_lloyd['inertia']:.4f}"),
        ("peak RSS ratio (rows x10)", f"{ours_lloyd['peak_rss_mb'] / ours_small['peak_rss_mb']:.2f}"),
    ])
    print(json.dumps({"minibatch": {"bigfit": ours_mb, "sklearn": peer_mb},
                      "lloyd": {"bigfit": ours_lloyd, "bigfit_small": ours_small, "sklearn": peer_lloyd}}))


if __name__ == "__main__":
    main()
