"""``bigfit cluster``: fit k-means on a dataset and save the model."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import typer

from bigfit.cli import _console
from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings


class Algorithm(StrEnum):
    """The k-means algorithms."""

    lloyd = "lloyd"
    minibatch = "minibatch"


class Init(StrEnum):
    """The initialisations."""

    parallel = "k-means||"
    plusplus = "k-means++"
    random = "random"


def cluster_command(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Data to cluster: file, glob, directory or URL.",
                                        show_default=False)],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of clusters.", show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Where to write the model (.bigfit).",
                                     show_default=False)],
    algorithm: Annotated[Algorithm, typer.Option(help="Exact Lloyd iterations or mini-batch k-means.")
                         ] = Algorithm.lloyd,
    init: Annotated[Init, typer.Option(help="Initial centres.")] = Init.parallel,
    n_init: Annotated[int, typer.Option("--n-init", min=1, help="Runs (Lloyd) or initialisations tried "
                                        "(mini-batch); the lowest inertia wins.")] = 1,
    max_iter: Annotated[int, typer.Option("--max-iter", min=1, help="Lloyd iterations or mini-batch epochs.")
                        ] = 300,
    tol: Annotated[float, typer.Option(min=0.0, help="Lloyd stops when the centres move less than this.")
                   ] = 1e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per mini-batch step.")] = 1024,
    standardize: Annotated[bool, typer.Option("--standardize/--no-standardize",
                                              help="Scale numeric columns to unit variance first.")] = False,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="A column that is not a feature, such as a label or an id (repeatable).")] = None,
    weight: Annotated[str | None, typer.Option(help="A column of sample weights.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    engine: EngineOption = DEFAULT_ENGINE,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Cluster the rows of DATA into K clusters with k-means and save the model to OUT.

    Every column but the excluded ones (and --weight) is a feature. Assign clusters to
    rows with: bigfit predict OUT DATA --out clusters.parquet
    """
    import os

    import bigfit
    from bigfit.exceptions import InvalidParameterError, SchemaError

    if os.path.exists(out) and not overwrite:
        raise InvalidParameterError(f"{out} exists; pass --overwrite to replace it.")
    with settings(memory_limit=memory_limit):
        dataset = bigfit.Dataset(data, weight=weight)
        excluded = list(exclude or ())
        unknown = [name for name in excluded if name not in dataset.columns]
        if unknown:
            raise SchemaError(f"--exclude names column(s) {unknown} that are not in {data}; its columns "
                              f"are {dataset.columns}.")
        if excluded:
            layout = dataset.layout
            features = [name for name in [*layout.numeric, *layout.datetime, *layout.categorical]
                        if name not in excluded]
            dataset = bigfit.Dataset(data, weight=weight, features=features)
        estimator = bigfit.KMeans(k, algorithm=algorithm.value, init=init.value, n_init=n_init,
                                  max_iter=max_iter, tol=tol, batch_size=batch_size,
                                  standardize=standardize, random_state=seed, engine=engine,
                                  memory_limit=memory_limit)
        started = time.perf_counter()
        estimator.fit(dataset)
        seconds = time.perf_counter() - started
        estimator.save(out)
    iterations = "epochs" if algorithm is Algorithm.minibatch else "iterations"
    _console.stdout().print(
        f"clustered {estimator.n_rows_seen_:,} rows into {k} clusters in {_console.format_seconds(seconds)} "
        f"({estimator.n_iter_} {iterations}), inertia {estimator.inertia_:.6g}; saved to {out}",
        highlight=False, soft_wrap=True)
