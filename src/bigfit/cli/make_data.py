"""``bigfit make-data``: write a synthetic dataset with a known ground truth."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bigfit.cli import _console
from bigfit.cli._options import parse_count


class Kind(StrEnum):
    """Kinds of synthetic data (see :func:`bigfit.data.synthetic.make_dataset`)."""

    classification = "classification"
    regression = "regression"
    blobs = "blobs"


class Format(StrEnum):
    """File formats the generator writes."""

    parquet = "parquet"
    csv = "csv"


def make_data(
    out: Annotated[Path, typer.Argument(
        metavar="OUT", help="Output directory.", show_default=False)],
    rows: Annotated[int, typer.Option(
        "--rows", "-n", parser=parse_count, show_default=False,
        help="Number of rows, such as 1000000, 1e6 or 1M.")],
    kind: Annotated[Kind, typer.Option("--kind", "-k", help="What the target is.")] = (
        Kind.classification),
    format: Annotated[Format, typer.Option("--format", "-f", help="File format.")] = (
        Format.parquet),
    numeric: Annotated[int, typer.Option(
        "--numeric", min=0, help="Number of numeric columns f0, f1, ...")] = 50,
    categorical: Annotated[int | None, typer.Option(
        "--categorical", min=0, show_default=False,
        help="Number of categorical columns c0, c1, ... [default: 2, 0 for blobs]")] = None,
    files: Annotated[int | None, typer.Option(
        "--files", min=1, show_default=False,
        help="Number of files [default: one per million rows]")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    row_group_size: Annotated[int, typer.Option(
        "--row-group-size", parser=parse_count, help="Rows per Parquet row group.")] = 65_536,
    label_noise: Annotated[float, typer.Option(
        "--label-noise", min=0.0, max=0.5,
        help="Fraction of class labels flipped (classification).")] = 0.05,
    clusters: Annotated[int, typer.Option(
        "--clusters", min=1, help="Number of clusters (blobs).")] = 10,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace OUT if it is a non-empty directory.")] = False,
) -> None:
    """Write a synthetic dataset with a known ground truth (OUT/_truth.json)."""
    from bigfit.data.synthetic import make_dataset

    start = time.perf_counter()
    with _console.progress_bar("rows") as bar:
        task = bar.add_task("make-data", total=rows)
        truth = make_dataset(
            out, rows=rows, kind=kind.value, format=format.value, n_numeric=numeric,
            n_categorical=categorical, n_files=files, seed=seed,
            row_group_size=row_group_size, label_noise=label_noise, n_clusters=clusters,
            overwrite=overwrite, progress=lambda n: bar.advance(task, n),
        )
    elapsed = time.perf_counter() - start

    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    n_columns = len(truth.numeric_columns) + len(truth.categorical_columns) + 1
    summary = Table.grid(padding=(0, 2))
    summary.add_row("rows", f"{truth.rows:,} x {n_columns} columns ({truth.kind})")
    summary.add_row("files", f"{len(truth.files)} {truth.format} in {out}")
    summary.add_row("size", _console.format_bytes(size))
    summary.add_row("time", f"{_console.format_seconds(elapsed)} "
                            f"({truth.rows / max(elapsed, 1e-9):,.0f} rows/s)")
    _console.stdout().print(summary)
