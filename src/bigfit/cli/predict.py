"""``bigfit predict``: stream predictions of a saved model into Parquet."""

from __future__ import annotations

from typing import Annotated

import typer

from bigfit.cli import _console
from bigfit.cli._options import MemoryLimitOption, settings


def predict_command(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A .bigfit model file.", show_default=False)],
    data: Annotated[str, typer.Argument(metavar="DATA", help="Rows to predict: file, glob, directory or URL.",
                                        show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Parquet file or directory to write.",
                                     show_default=False)],
    id_columns: Annotated[list[str] | None, typer.Option(
        "--id", help="A column to copy next to the predictions (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Predict every row of DATA with MODEL, writing OUT in bounded memory."""
    import pyarrow as pa

    import bigfit
    from bigfit.io.predictions import PredictionWriter

    with settings(memory_limit=memory_limit):
        estimator = bigfit.load(model)
        dataset = bigfit.Dataset(data)
        writer = None
        try:
            for columns in estimator.predict_stream(dataset, passthrough=id_columns or ()):
                table = pa.table(columns)
                if writer is None:
                    writer = PredictionWriter(out, table.schema, overwrite=overwrite).__enter__()
                writer.write(table)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is None:
            raise bigfit.exceptions.EmptyDatasetError(f"{data} has no rows to predict.")
        writer.close()
    _console.stdout().print(f"wrote {writer.rows_written:,} predictions to {out}", highlight=False)
