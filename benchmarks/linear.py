"""Linear benchmark: bigfit's logistic regression against scikit-learn, Vowpal Wabbit and the scan floor.

One dataset from ``bigfit make-data`` (``--rows`` x 50 numeric + 2 categorical columns,
binary target with 5% label noise), one holdout for everyone: ``Dataset.split(validation=0.1,
seed=0)``, a hash of each row's file and position (a different ``make_dataset`` seed would
draw a different ground truth, and a smaller dataset is a prefix of a larger one, so
neither gives fresh rows of the same distribution).  The peers see the same validation
rows: their mask is rebuilt per file from bigfit's row-id hash and checked against
bigfit's validation stream (row count, label sum, a feature sum).

Measured in one run, medians of ``--repeat`` interleaved runs:

- the scan floor (``scan.scan_floor``: pyarrow -> float32, one thread);
- the optimum: L-BFGS fitted to convergence on the training side; its holdout log loss
  plus 0.001 is the target of every method, and the number of L-BFGS iterations that first
  reach the target is found with ``max_iter=k`` fits (doubling, then bisection);
- bigfit, each run in a fresh process (for its peak RSS, and so that the first pass
  decodes Parquet): L-BFGS to the target on ``local`` and on ``local[2]``, each with the
  engine started by the fit and with ``engine.start()`` before the clock (a pool's workers
  then import bigfit and load numba before, as the driver does at ``import bigfit``); mini-batch
  solvers (SGD as ``SGDClassifier``'s defaults, Adam, AdaGrad) with ``early_stopping``,
  whose per-epoch validation loss on the same split is computed outside the epoch time;
- scikit-learn ``SGDClassifier(loss="log_loss").partial_fit`` over
  ``ParquetFile.iter_batches``: a ``StandardScaler.partial_fit`` pass first, then epochs of
  scaled numerics hstacked with ``FeatureHasher(input_type="string")`` categoricals;
- Vowpal Wabbit (if installed): conversion to VW text (a statistics pass and a writing
  pass: numerics standardised as bigfit and scikit-learn do), then ``--passes`` over
  its cache file, a model saved per pass and scored on the validation rows afterwards;
- bigfit SGD with ``cache=False``: its statistics pass and one epoch that decodes Parquet
  again while it trains (the first epoch from Parquet without the cache's write);
- the rate at which this machine writes a cache's bytes to ``/dev/shm`` (fresh memory
  pages: on a virtual machine whose host reclaims idle memory this is well below memory
  bandwidth, and it is most of the first pass's time beyond the scan);
- peak RSS of a fit at 1M and at ``--rows`` rows with ``memory_limit="1GB"``.

Time to target counts from the first read of Parquet (bigfit's first pass, scikit-learn's
scaler pass, VW's conversion) to the end of the first epoch (L-BFGS iteration, VW pass)
whose model has a holdout log loss <= the target; the holdout evaluations are not counted
(bigfit's ``early_stopping`` loss is computed outside an epoch's ``seconds``, scikit-learn is
scored between timed epochs, VW's per-pass models are scored after training; an L-BFGS
fit of ``max_iter=k`` iterations is timed whole).  A method that misses the target within
``--max-epochs`` shows a lower bound.

Everything bigfit runs in "local" mode uses one thread for pyarrow and BLAS (plus bigfit's
read-ahead thread); categoricals are hashed into 2**18 buckets by every method.

Usage: ``python benchmarks/linear.py [--rows 10000000] [--repeat 3] [--max-epochs 5] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from _common import DATA_DIR, dataset, median_times, peak_rss_of, report
from scan import scan_floor

DELTA = 0.001  # the target: optimal holdout log loss + DELTA
N_BUCKETS = 2**18  # hashed categorical columns, for every method
BATCH_ROWS = 65_536  # rows per pyarrow batch read by the peers
SEED = 0

# Code run at the start of every fresh bigfit process: one thread for pyarrow and BLAS.
_PRELUDE = """
import os
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"
import json, time
import pyarrow as pa
pa.set_cpu_count(1)
from bigfit import Dataset, LogisticRegression, SGDClassifier
from bigfit.models.callbacks import Callback

class Reached(Exception):
    pass

class Clock(Callback):
    '''Records when the first pass ends (fit start) and each epoch's logs; may stop the fit.'''
    def __init__(self, target=None, min_epochs=0):
        self.target, self.min_epochs = target, min_epochs
        self.start, self.epochs = None, []
    def on_fit_start(self, info):
        self.start = time.perf_counter()
    def on_epoch_end(self, epoch, logs):
        self.epochs.append({{k: logs.get(k) for k in ("seconds", "validation_loss", "rows_per_second",
                                                         "train_loss")}})
        loss = logs.get("validation_loss")
        if self.target is not None and loss is not None and loss <= self.target \\
                and len(self.epochs) >= self.min_epochs:
            raise Reached
"""

# The optimum, and the first L-BFGS iteration count that reaches optimum + DELTA.
_REFERENCE = _PRELUDE + """
ds = Dataset({path!r}, target="y")
train, valid = ds.split(validation=0.1, seed={seed})
valid = valid.cache()  # read the validation rows from Parquet once for all evaluations

def fit(k):
    clock = Clock()
    t0 = time.perf_counter()
    model = LogisticRegression(solver="lbfgs", categorical="hash", n_buckets={buckets},
                               max_iter=k).fit(train, callbacks=[clock])
    return model, time.perf_counter() - t0, clock

model, seconds, clock = fit({max_iter})
optimum = model.evaluate(valid)["log_loss"]
target = optimum + {delta}
losses = {{model.n_iter_: optimum}}

def loss_at(k):
    if k not in losses:
        losses[k] = fit(k)[0].evaluate(valid)["log_loss"]
    return losses[k]

hi = 1
while hi < model.n_iter_ and loss_at(hi) > target:
    hi *= 2
hi = min(hi, model.n_iter_)
lo = hi // 2  # 0, or a count known to miss the target
while hi - lo > 1:
    mid = (lo + hi) // 2
    if loss_at(mid) <= target:
        hi = mid
    else:
        lo = mid
result = {{"optimum": optimum, "n_iter": int(model.n_iter_), "converged": bool(model.converged_),
          "fit_s": seconds, "k_target": hi,
          "probes": {{str(k): v for k, v in sorted(losses.items())}},
          "train_rows": int(model.n_rows_seen_)}}
"""

# One timed L-BFGS fit of k iterations on the training side, on an engine that the fit
# starts (as a spec string), or on one started before the clock (``engine.start()``).
_LBFGS = _PRELUDE + """
from bigfit import get_engine
ds = Dataset({path!r}, target="y")
train, valid = ds.split(validation=0.1, seed={seed})
engine, start_s = {engine!r}, None
if {started}:
    t0 = time.perf_counter()
    engine = get_engine(engine).start()
    start_s = time.perf_counter() - t0
clock = Clock()
t0 = time.perf_counter()
model = LogisticRegression(solver="lbfgs", categorical="hash", n_buckets={buckets}, max_iter={k},
                           tol=0.0, engine=engine).fit(train, callbacks=[clock])
fit_s = time.perf_counter() - t0
last = clock.epochs[-1]
result = {{"fit_s": fit_s, "first_pass_s": clock.start - t0, "solver_s": last["seconds"],
          "n_iter": int(model.n_iter_), "rows_per_second": last["rows_per_second"],
          "train_rows": int(model.n_rows_seen_), "start_s": start_s}}
"""

# One timed mini-batch fit with early_stopping's per-epoch validation loss (outside "seconds").
_MINIBATCH = _PRELUDE + """
ds = Dataset({path!r}, target="y")
clock = Clock(target={target!r}, min_epochs={min_epochs})
model = {estimator}(categorical="hash", n_buckets={buckets}, early_stopping=True, validation_fraction=0.1,
                    random_state={seed}, max_iter={epochs}, tol=0.0, n_iter_no_change={epochs} + 1,
                    {params})
t0 = time.perf_counter()
try:
    model.fit(ds, callbacks=[clock])
except Reached:
    pass
result = {{"wall_s": time.perf_counter() - t0, "first_pass_s": clock.start - t0, "epochs": clock.epochs}}
"""

# One epoch straight from Parquet (cache=False): the statistics pass, then an epoch that
# decodes Parquet again while it trains.
_NO_CACHE = _PRELUDE + """
ds = Dataset({path!r}, target="y")
train, valid = ds.split(validation=0.1, seed={seed})
clock = Clock()
t0 = time.perf_counter()
SGDClassifier(categorical="hash", n_buckets={buckets}, max_iter=1, tol=0.0, cache=False,
              random_state={seed}).fit(train, callbacks=[clock])
result = {{"first_pass_s": clock.start - t0, "epoch_s": clock.epochs[0]["seconds"]}}
"""

# Peak memory of a fit within a 1 GB budget (a disk cache goes to a temporary folder).
_RSS = _PRELUDE + """
os.environ["BIGFIT_CACHE_DIR"] = {cache_dir!r}
ds = Dataset({path!r}, target="y", memory_limit="1GB")
model = {estimator}(categorical="hash", n_buckets={buckets}, max_iter={iters}, tol=0.0,
                    memory_limit="1GB", {params}).fit(ds)
result = {{"n_iter": int(model.n_iter_)}}
"""

# L-BFGS runs: engine spec, and whether the engine is started before the clock.
LBFGS_RUNS = {
    "local": ("local", False),
    "local[2]": ("local[2]", False),
    "local, started": ("local", True),
    "local[2], started": ("local[2]", True),
}

MINIBATCH = {
    "SGD (SGDClassifier defaults)": ("SGDClassifier", ""),
    "Adam (eta0=1e-3)": ("LogisticRegression", 'solver="adam", eta0=1e-3'),
    "AdaGrad (eta0=0.1)": ("LogisticRegression", 'solver="adagrad", eta0=0.1'),
}


def run_child(code: str) -> dict:
    """``peak_rss_of`` with the child's stderr shown when it fails."""
    try:
        return peak_rss_of(code)
    except subprocess.CalledProcessError as error:
        print(error.stderr, file=sys.stderr)
        raise


# -- the shared holdout --------------------------------------------------------------------


def validation_masks(ds, path: Path) -> dict[str, np.ndarray]:
    """The validation side of ``ds.split(0.1, seed=SEED)`` as a boolean mask per file.

    Rebuilt from bigfit's row identifiers (file and position), then checked against the
    rows bigfit's validation view streams.
    """
    from bigfit.data._hashing import hash_bytes
    from bigfit.data.convert import row_ids
    from bigfit.data.holdout import Holdout

    holdout = Holdout(0.1, SEED, None, True)
    masks, count, label_sum, f0_sum = {}, 0, 0, 0.0
    for name in ds.files:
        meta = pq.ParquetFile(name)
        ids = row_ids(hash_bytes(os.path.relpath(name, path)), 0, meta.metadata.num_rows)
        mask = holdout.mask(ids)
        table = meta.read(columns=["f0", "y"], use_threads=False)
        count += int(mask.sum())
        label_sum += int(table.column("y").to_numpy()[mask].sum())
        f0_sum += float(table.column("f0").to_numpy()[mask].astype(np.float32).sum(dtype=np.float64))
        masks[name] = mask
    _, valid = ds.split(validation=0.1, seed=SEED)
    view = valid.select(["f0"], target="y")
    got = [0, 0, 0.0]
    for batch in view.batches():
        got[0] += len(batch)
        got[1] += int(batch.y.sum())
        got[2] += float(batch.X[:, 0].sum(dtype=np.float64))
    if got[0] != count or got[1] != label_sum or not np.isclose(got[2], f0_sum, rtol=1e-9):
        raise RuntimeError(f"The rebuilt validation mask disagrees with Dataset.split: "
                           f"{count, label_sum, f0_sum} != {tuple(got)}")
    return masks


def training_batches(files: list[str], masks: dict[str, np.ndarray], columns: list[str]):
    """Yield the training rows of ``files`` as pyarrow record batches (one thread)."""
    for name in files:
        mask, start = masks[name], 0
        for batch in pq.ParquetFile(name).iter_batches(batch_size=BATCH_ROWS, columns=columns,
                                                       use_threads=False):
            keep = ~mask[start:start + batch.num_rows]
            start += batch.num_rows
            yield batch.filter(pa.array(keep))


def validation_table(files: list[str], masks: dict[str, np.ndarray], columns: list[str]) -> pa.Table:
    parts = [pq.read_table(name, columns=columns, use_threads=False).filter(pa.array(masks[name]))
             for name in files]
    return pa.concat_tables(parts)


def numeric_matrix(batch, numeric: list[str]) -> np.ndarray:
    X = np.empty((batch.num_rows, len(numeric)))
    for j, name in enumerate(numeric):
        X[:, j] = batch.column(name).to_numpy()
    return X


def time_to_target(first: float, epoch_seconds: list[float], losses: list[float],
                   target: float) -> dict:
    """When the holdout loss first drops to ``target``: seconds (``first``, then the epochs
    up to that one) and epochs; ``spent`` is all the seconds when it never does."""
    elapsed = first
    for k, (seconds, loss) in enumerate(zip(epoch_seconds, losses, strict=True), 1):
        elapsed += seconds
        if loss <= target:
            return {"seconds": elapsed, "epochs": k, "spent": elapsed}
    return {"seconds": None, "epochs": None, "spent": elapsed}


def median_outcome(outcomes: list[dict]) -> dict:
    """Median time to target over runs; a lower bound (median time spent) if a run missed it."""
    if all(o["seconds"] is not None for o in outcomes):
        return {"seconds": med([o["seconds"] for o in outcomes]),
                "epochs": med([o["epochs"] for o in outcomes]), "spent": None}
    return {"seconds": None, "epochs": None, "spent": med([o["spent"] for o in outcomes])}


# -- scikit-learn -----------------------------------------------------------------------------


class SklearnRun:
    """``SGDClassifier(loss="log_loss").partial_fit`` over pyarrow batches of the training rows."""

    def __init__(self, files, masks, numeric, categorical, target, max_epochs):
        from sklearn.feature_extraction import FeatureHasher

        self.files, self.masks, self.numeric, self.categorical = files, masks, numeric, categorical
        self.target, self.max_epochs = target, max_epochs
        self.hasher = FeatureHasher(n_features=N_BUCKETS, input_type="string")
        valid = validation_table(files, masks, [*numeric, *categorical, "y"])
        self.valid_X = numeric_matrix(valid, numeric)
        self.valid_H = self.hasher.transform(self._strings(valid))
        self.valid_y = valid.column("y").to_numpy()
        self.runs: list[dict] = []

    def _strings(self, batch):
        return zip(*(batch.column(name).to_pylist() for name in self.categorical), strict=True)

    def _design(self, scaler, X, H):
        import scipy.sparse as sp

        return sp.hstack([sp.csr_matrix(scaler.transform(X)), H], format="csr")

    def __call__(self) -> None:
        from sklearn.linear_model import SGDClassifier as SkSGD
        from sklearn.metrics import log_loss
        from sklearn.preprocessing import StandardScaler

        start = time.perf_counter()
        scaler = StandardScaler()
        for batch in training_batches(self.files, self.masks, self.numeric):
            scaler.partial_fit(numeric_matrix(batch, self.numeric))
        scaler_s = time.perf_counter() - start
        model = SkSGD(loss="log_loss", random_state=SEED)
        columns = [*self.numeric, *self.categorical, "y"]
        epochs, losses, rows = [], [], 0
        for _ in range(self.max_epochs):
            start, rows = time.perf_counter(), 0
            for batch in training_batches(self.files, self.masks, columns):
                X = self._design(scaler, numeric_matrix(batch, self.numeric),
                                 self.hasher.transform(self._strings(batch)))
                model.partial_fit(X, batch.column("y").to_numpy(), classes=[0, 1])
                rows += batch.num_rows
            epochs.append(time.perf_counter() - start)
            proba = model.predict_proba(self._design(scaler, self.valid_X, self.valid_H))[:, 1]
            losses.append(float(log_loss(self.valid_y, proba)))
            if losses[-1] <= self.target:
                break
        self.runs.append({"scaler_s": scaler_s, "epochs": epochs, "losses": losses, "rows": rows})


# -- Vowpal Wabbit ----------------------------------------------------------------------------


class VWRun:
    """Convert the training rows to VW text, train ``--passes`` over a cache file, score each pass."""

    def __init__(self, files, masks, numeric, categorical, target, max_epochs, workdir: Path):
        self.files, self.masks, self.numeric, self.categorical = files, masks, numeric, categorical
        self.target, self.max_epochs, self.workdir = target, max_epochs, workdir
        # The validation file, once (untimed), with the training statistics.
        mean, std = self._stats()
        columns = [*numeric, *categorical, "y"]
        with open(workdir / "valid.vw", "wb") as out:
            table = validation_table(files, masks, columns)
            for batch in table.to_batches(BATCH_ROWS):
                self._write(out, batch, mean, std)
        self.valid_y = table.column("y").to_numpy()
        self.runs: list[dict] = []

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each numeric column over the training rows."""
        n, total, squares = 0, np.zeros(len(self.numeric)), np.zeros(len(self.numeric))
        shift = None
        for batch in training_batches(self.files, self.masks, self.numeric):
            X = numeric_matrix(batch, self.numeric)
            shift = X[0].copy() if shift is None else shift  # shifted sums: no cancellation
            X -= shift
            n += len(X)
            total += X.sum(axis=0)
            squares += np.einsum("ij,ij->j", X, X)
        mean = total / n
        std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
        return mean + shift, np.where(std > 0, std, 1.0)

    def _write(self, out, batch, mean, std) -> None:
        """Append ``label |n 0:x0 1:x1 ... |c c0_17 c1_3`` lines, built by Arrow kernels."""
        parts: list = [pc.if_else(pc.equal(batch.column("y"), 1), "1", "-1"), " |n"]
        for j, name in enumerate(self.numeric):
            z = ((batch.column(name).to_numpy() - mean[j]) / std[j]).astype(np.float32)
            parts += [f" {j}:", pc.cast(pa.array(z), pa.string())]
        parts.append(" |c")
        for name in self.categorical:
            parts += [" ", pc.cast(batch.column(name), pa.string())]
        parts.append("\n")
        lines = pc.binary_join_element_wise(*parts, "")
        _, offsets, data = lines.buffers()
        offsets = np.frombuffer(offsets, dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
        out.write(memoryview(data)[offsets[0]:offsets[-1]])

    def _vw(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "vowpalwabbit", *args, "--quiet"], check=True,
                       capture_output=True)

    def __call__(self) -> None:
        work = self.workdir
        start = time.perf_counter()
        mean, std = self._stats()
        columns = [*self.numeric, *self.categorical, "y"]
        with open(work / "train.vw", "wb") as out:
            for batch in training_batches(self.files, self.masks, columns):
                self._write(out, batch, mean, std)
        convert_s = time.perf_counter() - start
        began = time.time()
        self._vw("-d", str(work / "train.vw"), "-c", "--cache_file", str(work / "train.cache"),
                 "--passes", str(self.max_epochs), "--holdout_off", "--save_per_pass",
                 "-f", str(work / "model"), "-b", str(int(np.log2(N_BUCKETS))),
                 "--loss_function", "logistic", "--link", "logistic")
        train_s = time.time() - began
        # Each pass's model file is written when the pass ends: its mtime times the pass.
        ends = [os.stat(work / f"model.{k}").st_mtime - began for k in range(1, self.max_epochs + 1)]
        passes = list(np.diff([0.0, *ends]))
        losses = []
        for k in range(1, self.max_epochs + 1):
            self._vw("-t", "-i", str(work / f"model.{k}"), "-d", str(work / "valid.vw"),
                     "-p", str(work / "preds"))
            p = np.clip(np.loadtxt(work / "preds"), 1e-15, 1 - 1e-15)
            y = self.valid_y
            losses.append(float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))))
        self.runs.append({"convert_s": convert_s, "train_s": train_s, "passes": passes,
                          "losses": losses, "text_gb": (work / "train.vw").stat().st_size / 1e9})
        # Free the page cache (and the disk) for the next runs: GBs of text and VW cache.
        for name in ("train.vw", "train.cache", "preds", *(p.name for p in work.glob("model*"))):
            (work / name).unlink(missing_ok=True)


# float32 features, two uint64 hashes, an int64 target and a uint64 row id
BYTES_PER_CACHED_ROW = 50 * 4 + 2 * 8 + 8 + 8


def fresh_write_rate(directory: Path, nbytes: int) -> float:
    """GB/s of writing ``nbytes`` to a new file in /dev/shm (where the cache lives), as the
    cache writer does: how fast this machine gives a process fresh memory pages."""
    block = np.ones(1 << 24, dtype=np.uint8)
    target = Path("/dev/shm") if Path("/dev/shm").is_dir() else directory
    path = target / f"bigfit-bench-{os.getpid()}"
    start = time.perf_counter()
    try:
        with open(path, "wb") as out:
            for _ in range(max(1, nbytes // len(block))):
                out.write(block.data)
        return max(1, nbytes // len(block)) * len(block) / (time.perf_counter() - start) / 1e9
    finally:
        path.unlink(missing_ok=True)


def vw_version() -> str | None:
    try:
        from importlib.metadata import version

        import vowpalwabbit  # noqa: F401
    except ImportError:
        return None
    return version("vowpalwabbit")


# -- main --------------------------------------------------------------------------------------


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def describe(outcome: dict, unit: str, best: float) -> str:
    if outcome["seconds"] is not None:
        return f"{outcome['seconds']:.2f} s  ({outcome['epochs']:g} {unit})"
    return f"not reached: > {outcome['spent']:.2f} s  (best {best:.5f})"


def ratio(a, b) -> str:
    return "n/a" if a is None or b is None else f"{a / b:.2f}x"


def ratio_to_target(mine: dict, theirs: dict) -> str:
    """``mine / theirs`` for times to target, as a bound when one side missed the target."""
    if mine["seconds"] is not None and theirs["seconds"] is not None:
        return f"{mine['seconds'] / theirs['seconds']:.2f}x"
    if mine["seconds"] is not None:
        return f"< {mine['seconds'] / theirs['spent']:.2f}x (the peer missed the target)"
    if theirs["seconds"] is not None:
        return f"> {mine['spent'] / theirs['seconds']:.2f}x (bigfit missed the target)"
    return "n/a (neither reached the target)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows (default 10M; 1M with --quick)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per method (default 3; 1 with --quick)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs / passes cap of the mini-batch methods (default 5; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1M rows, 1 repeat")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    max_epochs = args.max_epochs or (3 if args.quick else 5)
    pa.set_cpu_count(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from bigfit import Dataset

    path = dataset(rows)
    small = dataset(1_000_000)
    ds = Dataset(str(path), target="y")
    numeric, categorical = list(ds.numeric_features), list(ds.categorical_features)
    files = ds.files
    results: dict = {"rows": rows, "repeat": repeat, "max_epochs": max_epochs}
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    masks = validation_masks(ds, path)
    n_valid = sum(int(m.sum()) for m in masks.values())
    n_train = sum(len(m) for m in masks.values()) - n_valid
    results |= {"train_rows": n_train, "valid_rows": n_valid}
    progress(f"holdout: {n_train:,} training and {n_valid:,} validation rows")

    ref = run_child(_REFERENCE.format(path=str(path), seed=SEED, buckets=N_BUCKETS, max_iter=1000,
                                      delta=DELTA))
    target = ref["optimum"] + DELTA
    k_target = ref["k_target"]
    results["reference"] = ref
    progress(f"optimum {ref['optimum']:.5f} after {ref['n_iter']} L-BFGS iterations "
             f"({ref['fit_s']:.1f} s); target {target:.5f} first reached at iteration {k_target}")

    version = vw_version()
    workdir = Path(tempfile.mkdtemp(prefix="linear-vw-", dir=DATA_DIR))
    try:
        sk = SklearnRun(files, masks, numeric, categorical, target, max_epochs)
        vw = VWRun(files, masks, numeric, categorical, target, max_epochs, workdir) if version else None
        progress("validation rows ready for the peers")

        lbfgs: dict[str, list[dict]] = {label: [] for label in LBFGS_RUNS}
        minibatch: dict[str, list[dict]] = {name: [] for name in MINIBATCH}

        def bigfit_lbfgs(label: str):
            engine, started = LBFGS_RUNS[label]

            def run() -> None:
                lbfgs[label].append(run_child(_LBFGS.format(
                    path=str(path), seed=SEED, buckets=N_BUCKETS, k=k_target, engine=engine,
                    started=started)))
                progress(f"L-BFGS on {label}: {lbfgs[label][-1]['fit_s']:.1f} s")
            return run

        def bigfit_minibatch(name: str):
            estimator, params = MINIBATCH[name]

            def run() -> None:
                minibatch[name].append(run_child(_MINIBATCH.format(
                    path=str(path), seed=SEED, buckets=N_BUCKETS, target=target, min_epochs=3,
                    epochs=max_epochs, estimator=estimator, params=params)))
                progress(f"{name}: {len(minibatch[name][-1]['epochs'])} epochs")
            return run

        no_cache: list[dict] = []

        def straight_from_parquet() -> None:
            no_cache.append(run_child(_NO_CACHE.format(path=str(path), seed=SEED,
                                                       buckets=N_BUCKETS)))
            progress(f"SGD epoch from Parquet: {no_cache[-1]['epoch_s']:.1f} s")

        write_rates: list[float] = []

        def memory_write() -> None:
            write_rates.append(fresh_write_rate(DATA_DIR, rows * BYTES_PER_CACHED_ROW))
            progress(f"writing a cache's bytes to /dev/shm: {write_rates[-1]:.2f} GB/s")

        floor_runs: list[float] = []

        def floor() -> None:
            # The files back into the page cache first (Vowpal Wabbit's text pushes them out),
            # as they are for every other pass timed here: the floor measures decoding.
            for name in files:
                with open(name, "rb") as source:
                    while source.read(1 << 26):
                        pass
            t = time.perf_counter()
            scan_floor(files, numeric)
            floor_runs.append(time.perf_counter() - t)
            progress(f"scan floor {floor_runs[-1]:.1f} s")

        def sklearn() -> None:
            sk()
            progress(f"scikit-learn: {len(sk.runs[-1]['epochs'])} epochs")

        def vowpal() -> None:
            vw()
            last = vw.runs[-1]
            progress(f"VW: conversion {last['convert_s']:.1f} s, training {last['train_s']:.1f} s")

        fns = [floor, memory_write, *(bigfit_lbfgs(label) for label in LBFGS_RUNS),
               *(bigfit_minibatch(name) for name in MINIBATCH), straight_from_parquet, sklearn]
        if vw is not None:
            fns.append(vowpal)
        median_times(fns, repeat)  # interleaved; each run records its own inner timings

        rss_dir = tempfile.mkdtemp(prefix="linear-rss-", dir=DATA_DIR)
        rss = {}
        try:
            for label, estimator, params, iters in (
                    ("lbfgs", "LogisticRegression", 'solver="lbfgs"', 5),
                    ("sgd", "SGDClassifier", "", 2)):
                for size, where in (("1m", small), ("n", path)):
                    rss[f"{label}_{size}"] = run_child(_RSS.format(
                        cache_dir=rss_dir, path=str(where), estimator=estimator, buckets=N_BUCKETS,
                        iters=iters, params=params))["peak_rss_mb"]
                    shutil.rmtree(rss_dir, ignore_errors=True)
                    os.makedirs(rss_dir, exist_ok=True)
        finally:
            shutil.rmtree(rss_dir, ignore_errors=True)
        progress("peak RSS measured")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # -- summarise --------------------------------------------------------------------------
    fl = statistics.median(floor_runs)
    mrows = rows / 1e6
    summary: dict = {"scan_floor_s": fl, "target": target}
    lines: list[tuple[str, str]] = [
        ("scan floor (pyarrow -> float32, all rows)", f"{fl:.2f} s  ({mrows / fl:.2f} M rows/s)"),
        ("holdout (Dataset.split 0.1, seed 0)", f"{n_train:,} train / {n_valid:,} validation rows"),
        ("optimal holdout log loss (L-BFGS)", f"{ref['optimum']:.5f}  ({ref['n_iter']} iterations, "
                                              f"converged={ref['converged']}, {ref['fit_s']:.1f} s)"),
        ("target log loss (optimum + 0.001)", f"{target:.5f}  (L-BFGS first reaches it at "
                                              f"iteration {k_target})"),
    ]

    ttt: dict[str, dict] = {}
    for engine, runs in lbfgs.items():
        fit_s = med([r["fit_s"] for r in runs])
        first = med([r["first_pass_s"] for r in runs])
        per_iter = med([r["solver_s"] / r["n_iter"] for r in runs])
        rps = med([r["rows_per_second"] for r in runs])
        rss_mb = med([r["peak_rss_mb"] for r in runs])
        start = med([r["start_s"] for r in runs]) if runs[0]["start_s"] is not None else None
        if not LBFGS_RUNS[engine][1]:
            ttt[f"L-BFGS {engine}"] = {"seconds": fit_s, "epochs": k_target, "spent": None}
        summary[f"lbfgs_{engine}"] = {"fit_s": fit_s, "first_pass_s": first, "iteration_s": per_iter,
                                      "rows_per_second": rps, "peak_rss_mb": rss_mb,
                                      "start_s": start, "runs": runs}
        lines += [
            (f"bigfit L-BFGS, {engine}", "" if start is None else
             f"engine.start() before the clock: {start:.2f} s"),
            ("  first pass (Parquet: stats + cache write)", f"{first:.2f} s  ({ratio(first, fl)} floor)"),
            ("  cached iteration", f"{per_iter:.2f} s  ({rps / 1e6:.2f} M rows/s, line search included)"),
            (f"  time to target ({k_target} iterations)", f"{fit_s:.2f} s"),
            ("  peak RSS", f"{rss_mb:.0f} MB"),
        ]

    for name, runs in minibatch.items():
        first = med([r["first_pass_s"] for r in runs])
        epoch1 = med([r["first_pass_s"] + r["epochs"][0]["seconds"] for r in runs])
        cached = med([e["seconds"] for r in runs for e in r["epochs"]])
        rps = med([e["rows_per_second"] for r in runs for e in r["epochs"]])
        outcome = median_outcome([time_to_target(r["first_pass_s"], [e["seconds"] for e in r["epochs"]],
                                                 [e["validation_loss"] for e in r["epochs"]], target)
                                  for r in runs])
        best = min(e["validation_loss"] for r in runs for e in r["epochs"])
        rss_mb = med([r["peak_rss_mb"] for r in runs])
        ttt[name] = outcome
        summary[name] = {"first_pass_s": first, "first_epoch_s": epoch1, "cached_epoch_s": cached,
                         "rows_per_second": rps, "time_to_target": outcome, "best_validation_loss": best,
                         "peak_rss_mb": rss_mb, "runs": runs}
        lines += [
            (f"bigfit {name}, local", ""),
            ("  first pass (Parquet: stats + cache write)", f"{first:.2f} s  ({ratio(first, fl)} floor)"),
            ("  first pass + first epoch", f"{epoch1:.2f} s  ({ratio(epoch1, fl)} floor)"),
            ("  cached epoch", f"{cached:.2f} s  ({rps / 1e6:.2f} M rows/s)"),
            ("  time to target", describe(outcome, "epochs", best)),
            ("  peak RSS", f"{rss_mb:.0f} MB"),
        ]

    nc_first = med([r["first_pass_s"] for r in no_cache])
    nc_epoch = med([r["epoch_s"] for r in no_cache])
    write_rate = med(write_rates)
    summary["no_cache"] = {"first_pass_s": nc_first, "epoch_s": nc_epoch, "runs": no_cache}
    summary["shm_write_gb_per_s"] = write_rate
    lines += [
        ("bigfit SGD, cache=False: every pass from Parquet", ""),
        ("  first pass (Parquet: statistics only)", f"{nc_first:.2f} s  ({ratio(nc_first, fl)} floor)"),
        ("  first epoch (Parquet: decode and train)", f"{nc_epoch:.2f} s  ({ratio(nc_epoch, fl)} floor)"),
        ("machine: writing a cache's bytes to /dev/shm",
         f"{write_rate:.2f} GB/s  ({rows * BYTES_PER_CACHED_ROW / 1e9:.1f} GB: "
         f"{rows * BYTES_PER_CACHED_ROW / 1e9 / write_rate:.2f} s)"),
    ]

    sk_scaler = med([r["scaler_s"] for r in sk.runs])
    sk_epoch = med([e for r in sk.runs for e in r["epochs"]])
    sk_rows = sk.runs[0]["rows"]
    sk_outcome = median_outcome([time_to_target(r["scaler_s"], r["epochs"], r["losses"], target)
                                 for r in sk.runs])
    sk_best = min(x for r in sk.runs for x in r["losses"])
    summary["sklearn"] = {"scaler_s": sk_scaler, "epoch_s": sk_epoch, "time_to_target": sk_outcome,
                          "runs": sk.runs}
    lines += [
        ("scikit-learn SGDClassifier partial_fit", ""),
        ("  StandardScaler.partial_fit pass", f"{sk_scaler:.2f} s"),
        ("  epoch (FeatureHasher + hstack + partial_fit)",
         f"{sk_epoch:.2f} s  ({sk_rows / sk_epoch / 1e6:.2f} M rows/s)"),
        ("  time to target (scaler pass + epochs)", describe(sk_outcome, "epochs", sk_best)),
    ]

    vw_outcome = None
    if vw is not None:
        conv = med([r["convert_s"] for r in vw.runs])
        first_pass = med([r["passes"][0] for r in vw.runs])
        later = med([p for r in vw.runs for p in r["passes"][1:]])
        vw_outcome = median_outcome([time_to_target(r["convert_s"], r["passes"], r["losses"], target)
                                     for r in vw.runs])
        vw_best = min(x for r in vw.runs for x in r["losses"])
        summary["vw"] = {"version": version, "convert_s": conv, "first_pass_s": first_pass,
                         "cached_pass_s": later, "time_to_target": vw_outcome, "runs": vw.runs}
        lines += [
            (f"Vowpal Wabbit {version}", ""),
            ("  conversion to VW text (stats + write)", f"{conv:.2f} s  ({vw.runs[0]['text_gb']:.1f} GB)"),
            ("  first pass (parse text, write cache)", f"{first_pass:.2f} s"),
            ("  cached pass", "n/a" if later is None else f"{later:.2f} s"),
            ("  time to target incl. conversion", describe(vw_outcome, "passes", vw_best)),
        ]
    else:
        lines.append(("Vowpal Wabbit", "not installed (pip install vowpalwabbit): skipped"))

    lb = summary["lbfgs_local"]
    sgd = summary["SGD (SGDClassifier defaults)"]
    lines += [
        ("ratios (same run)", ""),
        ("  L-BFGS first pass / scan floor", f"{ratio(lb['first_pass_s'], fl)}  (target <= 1.3x)"),
        ("  SGD first pass / scan floor", f"{ratio(sgd['first_pass_s'], fl)}  (target <= 1.3x)"),
        ("  SGD first pass + first epoch / scan floor", ratio(sgd["first_epoch_s"], fl)),
        ("  SGD first epoch from Parquet, cache=False / scan floor",
         f"{ratio(nc_epoch, fl)}  (statistics pass before it: {ratio(nc_first, fl)})"),
        ("  L-BFGS cached pass speed", f"{lb['rows_per_second'] / 1e6:.2f} M rows/s  (target >= 5M rows/s)"),
        ("  SGD cached epoch speed", f"{sgd['rows_per_second'] / 1e6:.2f} M rows/s  (target >= 5M rows/s)"),
    ]
    for name, outcome in ttt.items():
        if name == "L-BFGS local[2]":
            continue
        lines.append((f"  time to target, {name} / scikit-learn",
                      f"{ratio_to_target(outcome, sk_outcome)}  (target <= 0.33x)"))
        if vw_outcome is not None:
            lines.append((f"  time to target, {name} / VW incl. conversion",
                          f"{ratio_to_target(outcome, vw_outcome)}  (target <= 1x)"))
    lines += [
        ("  hashed-categorical epoch speed: bigfit SGD cached / scikit-learn",
         f"{ratio(sk_epoch / sk_rows, sgd['cached_epoch_s'] / n_train)}  (target >= 8x)"),
        ("  same, bigfit SGD first pass + first epoch / scikit-learn",
         ratio(sk_epoch / sk_rows, sgd["first_epoch_s"] / n_train)),
        ("  peak RSS, L-BFGS, 1GB budget, 1M -> N rows",
         f"{rss['lbfgs_1m']:.0f} -> {rss['lbfgs_n']:.0f} MB  ({ratio(rss['lbfgs_n'], rss['lbfgs_1m'])}; "
         "target <= 1.2x, < 1 GB)"),
        ("  peak RSS, SGD, 1GB budget, 1M -> N rows",
         f"{rss['sgd_1m']:.0f} -> {rss['sgd_n']:.0f} MB  ({ratio(rss['sgd_n'], rss['sgd_1m'])}; "
         "target <= 1.2x, < 1 GB)"),
    ]
    for when, suffix, goal in (("engines started before the clock", ", started", "  (target >= 1.6x)"),
                               ("engines started by the fit", "", "")):
        one, two = summary[f"lbfgs_local{suffix}"], summary[f"lbfgs_local[2]{suffix}"]
        lines += [
            (f"  L-BFGS local[2] speed-up over local, {when}", ""),
            ("    time to target", f"{ratio(one['fit_s'], two['fit_s'])}{goal}"),
            ("    first pass", ratio(one["first_pass_s"], two["first_pass_s"])),
            ("    cached iteration", ratio(one["iteration_s"], two["iteration_s"])),
        ]
    summary["rss_1gb_budget_mb"] = rss
    results |= summary
    report(f"linear benchmark: {rows:,} rows x {len(numeric)} numeric + {len(categorical)} categorical, "
           f"median of {repeat}, at most {max_epochs} epochs", lines)
    print("\n" + json.dumps(results, default=float))


if __name__ == "__main__":
    main()
