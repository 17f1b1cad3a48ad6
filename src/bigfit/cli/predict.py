"""``bigfit predict``: stream predictions of a saved model into Parquet."""

from __future__ import annotations

from typing import Annotated

import typer

from bigfit.cli import _console
from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings


def predict_command(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A .bigfit model file.", show_default=False)],
    data: Annotated[str, typer.Argument(metavar="DATA", help="Rows to predict: file, glob, directory or URL.",
                                        show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Parquet file or directory to write.",
                                     show_default=False)],
    id_columns: Annotated[list[str] | None, typer.Option(
        "--id", help="A column to copy next to the predictions (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    engine: EngineOption = DEFAULT_ENGINE,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Predict every row of DATA with MODEL, writing OUT in bounded memory.

    With an engine of several workers and a directory OUT, each worker writes the part
    files of its shards (OUT must be a URL or a shared file system on a cluster).
    """
    import bigfit
    from bigfit.models._predict import write_predictions

    with settings(memory_limit=memory_limit):
        estimator = bigfit.load(model)
        rows = write_predictions(estimator, bigfit.Dataset(data), out, passthrough=id_columns or (),
                                 engine=engine, overwrite=overwrite)
    _console.stdout().print(f"wrote {rows:,} predictions to {out}", highlight=False)
