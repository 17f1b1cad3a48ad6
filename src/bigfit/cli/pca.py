"""``bigfit pca``: reduce a dataset to its principal components, in bounded memory."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from bigfit.cli import _console
from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings

if TYPE_CHECKING:
    import numpy as np

    from bigfit.data.dataset import Dataset
    from bigfit.models.decomposition import PCA


class Solver(StrEnum):
    """The PCA solvers."""

    auto = "auto"
    covariance = "covariance"
    randomized = "randomized"


def pca_command(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Data to reduce: file, glob, directory or URL.",
                                        show_default=False)],
    components: Annotated[int, typer.Option("--components", "-k", min=1, help="Principal components to keep.",
                                            show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Parquet file or directory for the reduced rows.",
                                     show_default=False)],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Also save the fitted model (.bigfit).",
                                              show_default=False)] = None,
    plot: Annotated[str | None, typer.Option("--plot", help="Also draw a scree plot (PNG, SVG or PDF).",
                                             show_default=False)] = None,
    solver: Annotated[Solver, typer.Option(help="Exact (covariance) or randomized; auto picks by width.")
                      ] = Solver.auto,
    standardize: Annotated[bool, typer.Option("--standardize/--no-standardize",
                                              help="Scale numeric columns to unit variance first.")] = False,
    whiten: Annotated[bool, typer.Option("--whiten/--no-whiten",
                                         help="Scale each component's scores to unit variance.")] = False,
    iterated_power: Annotated[int | None, typer.Option(
        "--iterated-power", min=0, help="Power iterations of the randomized solver [default: 2].",
        show_default=False)] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="A column that is not a feature, such as a label (repeatable).")] = None,
    id_columns: Annotated[list[str] | None, typer.Option(
        "--id", help="A column to copy next to the components in OUT; not a feature (repeatable).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the randomized solver.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT and MODEL if they exist.")
                         ] = False,
    engine: EngineOption = DEFAULT_ENGINE,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Fit PCA on DATA and write its rows' scores on the top components to OUT.

    Every column but the excluded and id ones is a feature (categorical columns are
    one-hot encoded, missing values imputed with the column mean). Project other rows later
    with: bigfit predict MODEL DATA --out scores.parquet
    """
    import os

    import bigfit
    from bigfit.exceptions import InvalidParameterError

    for path in (out, model):
        if path is not None and os.path.exists(path) and not overwrite:
            raise InvalidParameterError(f"{path} exists; pass --overwrite to replace it.")
    ids = list(id_columns or ())
    with settings(memory_limit=memory_limit):
        dataset = bigfit.Dataset(data)
        features = _feature_dataset(dataset, data, [*(exclude or ()), *ids])
        estimator = bigfit.PCA(components, solver=solver.value, standardize=standardize, whiten=whiten,
                               iterated_power="auto" if iterated_power is None else iterated_power,
                               random_state=seed, engine=engine, memory_limit=memory_limit)
        started = time.perf_counter()
        estimator.fit(features)
        seconds = time.perf_counter() - started
        if model is not None:
            estimator.save(model)
        rows = estimator.write_transformed(dataset, out, passthrough=ids, engine=engine, overwrite=overwrite)
    if plot is not None:
        write_scree_plot(estimator.explained_variance_ratio_, plot)
    _report(estimator, seconds, rows, out, model, plot)


def _feature_dataset(dataset: Dataset, source: str, excluded: list[str]) -> Dataset:
    """``dataset`` without the excluded columns among its features."""
    import bigfit
    from bigfit.exceptions import SchemaError

    unknown = [name for name in excluded if name not in dataset.columns]
    if unknown:
        raise SchemaError(f"--exclude/--id name column(s) {unknown} that are not in {source}; its columns "
                          f"are {dataset.columns}.")
    if not excluded:
        return dataset
    layout = dataset.layout
    features = [name for name in [*layout.numeric, *layout.datetime, *layout.categorical]
                if name not in excluded]
    return bigfit.Dataset(source, features=features)


def _report(estimator: PCA, seconds: float, rows: int, out: str, model: str | None,
            plot: str | None) -> None:
    from rich.table import Table

    console = _console.stdout()
    passes = f"{estimator.n_passes_} pass{'es' if estimator.n_passes_ > 1 else ''}"
    console.print(
        f"PCA of {estimator.n_samples_:,} rows x {estimator.components_.shape[1]} features in "
        f"{_console.format_seconds(seconds)} ({estimator.solver_} solver, {passes}): "
        f"{estimator.n_components_} components explain {estimator.explained_variance_ratio_.sum():.2%} "
        "of the variance", highlight=False, soft_wrap=True)
    table = Table("component", "explained variance", "ratio", "cumulative", box=None)
    cumulative = 0.0
    for name, variance, ratio in zip(estimator.get_feature_names_out(), estimator.explained_variance_,
                                     estimator.explained_variance_ratio_, strict=True):
        cumulative += float(ratio)
        table.add_row(str(name), f"{variance:.6g}", f"{ratio:.2%}", f"{cumulative:.2%}")
    console.print(table)
    console.print(f"wrote {rows:,} rows of scores to {out}", highlight=False, soft_wrap=True)
    if model is not None:
        console.print(f"saved the model to {model}", highlight=False, soft_wrap=True)
    if plot is not None:
        console.print(f"drew the scree plot in {plot}", highlight=False, soft_wrap=True)


def write_scree_plot(ratios: np.ndarray, path: str) -> None:
    """Draw each component's share of the variance (bars) and the cumulative share (line)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        from bigfit.exceptions import MissingDependencyError

        raise MissingDependencyError("--plot draws with matplotlib, which is not installed; install it "
                                     "with: pip install 'bigfit[plot]'") from error
    import numpy as np

    positions = np.arange(1, len(ratios) + 1)
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(positions, ratios, color="C0", label="component")
    axes.plot(positions, np.cumsum(ratios), color="C1", marker="o", label="cumulative")
    axes.set(xlabel="principal component", ylabel="share of the variance", ylim=(0, 1.05),
             title="Scree plot")
    axes.set_xticks(positions if len(positions) <= 30 else positions[:: max(1, len(positions) // 15)])
    axes.legend(loc="center right")
    figure.savefig(path, dpi=120)
