"""Engines benchmark: bigfit on local, local[2], Ray and Spark, and Spark MLlib's LogisticRegression.

One dataset from ``bigfit make-data`` (``--rows`` x 50 numeric columns used as features,
binary target with label noise), split once by bigfit's row hash (``split(validation=0.1,
seed=0)``) into a training and a validation Parquet directory, so every method reads the
same training rows and is scored on the same validation rows (by this script, in numpy,
from the fitted coefficients).

Measured in one run:

- **start-up**: a fresh interpreter that imports bigfit, starts the engine and runs one
  two-item map, minus the same for ``local`` (medians of ``--repeat``);
- **per-iteration cost** of ``map_reduce`` over 64 shards of the cached training data
  (``Dataset.cache("memory")``), on each engine after a warm-up pass: an empty task (the
  engine's own overhead) and a column-sum task (a memory-speed pass), medians of
  ``--iterations``;
- **time to the target holdout log loss**: the target is the holdout log loss of bigfit's
  L-BFGS run to convergence, plus 0.001.  For each method, fits of ``max_iter = 2, 4, 8,
  ...`` iterations, each timed whole from the Parquet read, until one reaches the target;
  that fit is then timed ``--repeat`` times.  Spark MLlib: ``VectorAssembler`` +
  ``LogisticRegression(regParam=alpha, elasticNetParam=0, standardization=True)``, the same
  objective as bigfit's ``LogisticRegression(alpha)`` (mean log loss + alpha/2 ||w||^2 on
  standardised features).  bigfit and MLlib on Spark share one SparkSession (``local[2]``),
  whose start-up is not counted in their fit times.

Usage: ``python benchmarks/engines.py [--rows 10000000] [--repeat 3] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import DATA_DIR, dataset, median_times, report

ALPHA = 1e-4
DELTA = 0.001
SPARK_MASTER = "local[2]"
ENGINES = {"local": "local", "local[2]": "local[2]", "ray": "ray[2]", "spark": "spark"}


# -- data --------------------------------------------------------------------------------------

def train_valid(rows: int) -> tuple[Path, Path, list[str]]:
    """Training and validation Parquet directories of the numeric features and y (made once)."""
    import bigfit

    source = dataset(rows)
    features = json.loads((source / "_truth.json").read_text())["numeric_columns"]
    out = DATA_DIR / f"{source.name}-numeric-split"
    train, valid = out / "train", out / "valid"
    if not (out / "_done").exists():
        print(f"splitting {source.name} ...", flush=True)
        data = bigfit.Dataset(source, target="y").select(features, target="y")
        for side, folder in zip(data.split(validation=0.1, seed=0), (train, valid), strict=True):
            folder.mkdir(parents=True, exist_ok=True)
            for i, shard in enumerate(side.shards()):
                tables = [pa.table({**{name: b.X[:, j] for j, name in enumerate(features)},
                                    "y": b.y.astype(np.int8)}) for b in shard.batches()]
                pq.write_table(pa.concat_tables(tables), folder / f"part-{i:05d}.parquet",
                               row_group_size=2**17)
        (out / "_done").touch()
    return train, valid, features


class Holdout:
    """The validation rows in memory, to score any method's coefficients alike."""

    def __init__(self, folder: Path, features: list[str]) -> None:
        table = pq.read_table(folder)
        self.X = np.column_stack([table.column(n).to_numpy() for n in features]).astype(np.float64)
        self.y = table.column("y").to_numpy().astype(np.float64)

    def log_loss(self, scores: Callable[[np.ndarray], np.ndarray]) -> float:
        """Mean log loss of the decision scores ``scores(X)``."""
        z = np.asarray(scores(self.X), dtype=np.float64).ravel()
        return float(np.mean(np.logaddexp(0.0, z) - self.y * z))


# -- engines -----------------------------------------------------------------------------------

_STARTUP = """
import time, json
started = time.perf_counter()
import bigfit
from bigfit.engine import get_engine
with get_engine({spec!r}) as engine:
    engine.map(abs, [-1, 2])
print(json.dumps(time.perf_counter() - started))
"""


def startup_seconds(spec: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _STARTUP.format(spec=spec)], check=True,
                             capture_output=True, text=True)
        times.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def nothing(shard: object, state: object) -> np.ndarray:
    return np.zeros(51)


def column_sums(shard: object, state: object) -> np.ndarray:
    total = np.zeros(51)
    for batch in shard.batches():
        total[:50] += batch.X.sum(axis=0, dtype=np.float64)
        total[50] += len(batch)
    return total


def per_iteration(engine: object, shards: list, iterations: int) -> dict[str, float]:
    """Median seconds of an empty and of a column-sum map_reduce over ``shards``."""
    add: Callable[[np.ndarray, np.ndarray], np.ndarray] = np.add
    engine.map_reduce(column_sums, shards, add)  # warm-up: fills any engine-side cache
    (empty, _), (sums, _) = median_times(
        [lambda: engine.map_reduce(nothing, shards, add),
         lambda: engine.map_reduce(column_sums, shards, add)], iterations)
    return {"empty": empty, "pass": sums}


# -- fits --------------------------------------------------------------------------------------

Scores = Callable[[np.ndarray], np.ndarray]


def bigfit_fit(train: Path, engine: object, max_iter: int, tol: float = 0.0) -> Scores:
    import bigfit

    model = bigfit.LogisticRegression(alpha=ALPHA, solver="lbfgs", max_iter=max_iter, tol=tol,
                                      early_stopping=False, engine=engine)
    model.fit(bigfit.Dataset(train, target="y"))
    return model.decision_function  # coef_ is on the standardised scale


def mllib_fit(spark: object, train: Path, features: list[str], max_iter: int) -> Scores:
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    frame = VectorAssembler(inputCols=features, outputCol="features").transform(
        spark.read.parquet(str(train)))
    model = LogisticRegression(maxIter=max_iter, regParam=ALPHA, elasticNetParam=0.0, tol=1e-12,
                               standardization=True, labelCol="y").fit(frame)
    coef, intercept = model.coefficients.toArray(), float(model.intercept)
    return lambda X: X @ coef + intercept


def time_to_target(fit: Callable[[int], Scores], holdout: Holdout, target: float,
                   repeat: int, max_k: int) -> dict[str, float]:
    """Fits of 2, 4, 8, ... iterations until one reaches ``target``; that fit's median time."""
    k = 2
    while True:
        started = time.perf_counter()
        scores = fit(k)
        seconds = time.perf_counter() - started
        loss = holdout.log_loss(scores)
        print(f"    max_iter={k}: {seconds:.1f} s, holdout log loss {loss:.5f}", flush=True)
        if loss <= target or k >= max_k:
            break
        k *= 2
    times = [seconds]
    for _ in range(repeat - 1):
        started = time.perf_counter()
        fit(k)
        times.append(time.perf_counter() - started)
    return {"iterations": k, "seconds": statistics.median(times), "loss": loss, "reached": loss <= target}


def spark_session() -> object:
    from pyspark.sql import SparkSession

    return (SparkSession.builder.master(SPARK_MASTER).appName("bigfit-engines-benchmark")
            .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", "6g")
            .config("spark.sql.shuffle.partitions", "4").getOrCreate())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=7)
    parser.add_argument("--max-iter", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="1M rows, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat, args.iterations = 1_000_000, 1, 3
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    import bigfit
    from bigfit.engine import get_engine

    train, valid, features = train_valid(args.rows)
    holdout = Holdout(valid, features)
    rows: list[tuple[str, str]] = []

    print("start-up ...", flush=True)
    base = startup_seconds("local", args.repeat)
    for name in ("local[2]", "ray", "spark"):
        seconds = startup_seconds(ENGINES[name], args.repeat) - base
        rows.append((f"start-up {name}", f"{seconds:.2f} s"))

    print("optimum ...", flush=True)
    with get_engine("local[2]") as engine:
        optimum = holdout.log_loss(bigfit_fit(train, engine, max_iter=200, tol=1e-7))
    target = optimum + DELTA
    rows.append(("holdout log loss: optimum / target", f"{optimum:.5f} / {target:.5f}"))

    spark = spark_session()
    cached = bigfit.Dataset(train, target="y").cache("memory")
    shards = cached.shards(64)
    results: dict[str, dict[str, float]] = {}
    fits: dict[str, dict[str, float]] = {}
    for name, spec in ENGINES.items():
        print(f"{name} ...", flush=True)
        with get_engine(spec) as engine:
            results[name] = per_iteration(engine, shards, args.iterations)
            fits[name] = time_to_target(lambda k, engine=engine: bigfit_fit(train, engine, k), holdout,
                                        target, args.repeat, args.max_iter)
    print("Spark MLlib ...", flush=True)
    fits["MLlib"] = time_to_target(lambda k: mllib_fit(spark, train, features, k), holdout, target,
                                   args.repeat, args.max_iter)
    spark.stop()

    for name, times in results.items():
        rows.append((f"64 cached shards, {name}: empty / pass",
                     f"{times['empty'] * 1e3:.1f} ms / {times['pass'] * 1e3:.1f} ms "
                     f"({times['pass'] / results['local[2]']['pass']:.2f}x local[2])"))
    for name, fit in fits.items():
        mark = "" if fit["reached"] else " (target not reached: a lower bound)"
        rows.append((f"time to target, {name if name == 'MLlib' else 'bigfit on ' + name}",
                     f"{fit['seconds']:.1f} s ({fit['iterations']:.0f} iterations, loss {fit['loss']:.5f})"
                     f"{mark}"))
    rows.append(("MLlib / bigfit on spark", f"{fits['MLlib']['seconds'] / fits['spark']['seconds']:.2f}x"))
    rows.append(("local / ray, local[2] / ray",
                 f"{fits['local']['seconds'] / fits['ray']['seconds']:.2f}x, "
                 f"{fits['local[2]']['seconds'] / fits['ray']['seconds']:.2f}x"))
    report(f"engines: {args.rows:,} rows x {len(features)} features, medians of {args.repeat}", rows)


if __name__ == "__main__":
    main()
