"""``bigfit inspect``: rows, columns, missing values, statistics, balance, in one pass."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bigfit.cli import _console
from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings


def inspect_command(
    data: Annotated[str, typer.Argument(
        metavar="DATA", help="A file, glob, directory or URL (s3://, gs://, ...).", show_default=False)],
    target: Annotated[str | None, typer.Option(
        "--target", "-t", help="The target column: its class balance is shown.")] = None,
    format: Annotated[str | None, typer.Option(
        "--format", "-f", help="parquet, csv, json or ipc [default: from the file names].")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="CSV field separator.")] = None,
    shards: Annotated[int | None, typer.Option(
        "--shards", min=1, help="Number of shards [default: four per worker].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    engine: EngineOption = DEFAULT_ENGINE,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Summarise a dataset: rows, columns with types and roles, missing values, min/max/mean/std,
    approximate distinct counts, class balance of the target, files, size and shard balance."""
    from bigfit.data.dataset import Dataset
    from bigfit.data.profile import profile
    from bigfit.engine import get_engine

    options = {"delimiter": delimiter} if delimiter is not None else {}
    with settings(memory_limit=memory_limit):
        dataset = Dataset(data, target=target, format=format, **options)
        with get_engine(engine) as runner, ScanProgressFor(dataset, quiet=as_json) as progress:
            summary = profile(dataset, engine=runner, shards=shards,
                              on_shard=lambda shard, part: progress.advance(shard.nbytes, part.rows))
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary, data)


def ScanProgressFor(dataset, *, quiet: bool):
    """A progress bar over ``dataset``'s bytes (disabled with ``quiet``)."""
    import contextlib

    from bigfit.cli._progress import ScanProgress

    if quiet:
        return contextlib.nullcontext(_NoProgress())
    return ScanProgress("inspect", dataset.nbytes)


class _NoProgress:
    def advance(self, nbytes: int, rows: int) -> None:
        """Ignore progress."""


def _print_summary(summary, data: str) -> None:
    out = _console.stdout()
    seconds = max(summary.seconds, 1e-9)
    out.print(f"[bold]{escape(data)}[/bold]: {summary.rows:,} rows, {len(summary.columns)} columns, "
              f"{summary.files} {summary.format} file(s), {_console.format_bytes(summary.nbytes)} "
              f"read in {_console.format_seconds(summary.seconds)} "
              f"({summary.rows / seconds / 1e6:.2f}M rows/s, {summary.nbytes / seconds / 1e6:.0f} MB/s "
              f"on {summary.engine})")
    table = Table(show_edge=False, header_style="bold")
    for name in ("column", "type", "role", "missing", "min", "max", "mean", "std", "distinct"):
        table.add_column(name, justify="left" if name in ("column", "type", "role") else "right")
    for c in summary.columns:
        cells = (c.name, c.type, c.role, _count(c.missing), _value(c.min), _value(c.max),
                 _value(c.mean), _value(c.std), _count(c.distinct, approx=True))
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)
    if summary.class_balance is not None:
        total = sum(count for _, count in summary.class_balance) or 1
        balance = ", ".join(f"{label}: {count:,} ({count / total:.1%})"
                            for label, count in summary.class_balance[:20])
        out.print(f"class balance of [bold]{escape(str(summary.target))}[/bold]: {escape(balance)}")
    rows = summary.shard_rows
    out.print(f"shards: {len(rows)}, rows per shard {min(rows):,} to {max(rows):,} "
              f"(largest / smallest = {summary.shard_imbalance:.2f})")


def _count(value: int | None, *, approx: bool = False) -> str:
    if value is None:
        return ""
    return f"~{value:,}" if approx else f"{value:,}"


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
