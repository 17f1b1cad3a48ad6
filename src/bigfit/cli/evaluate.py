"""``bigfit evaluate``: metrics of a saved model on labelled data."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bigfit.cli import _console
from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings


def evaluate_command(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A .bigfit model file.", show_default=False)],
    data: Annotated[str, typer.Argument(metavar="DATA", help="Labelled data: file, glob, directory or URL.",
                                        show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    engine: EngineOption = DEFAULT_ENGINE,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Evaluate MODEL on DATA: accuracy, log loss, ROC AUC and confusion matrix for
    classifiers; R2, RMSE and MAE for regressors."""
    import bigfit

    with settings(memory_limit=memory_limit):
        estimator = bigfit.load(model)
        weights = estimator.input_columns_["weight"]
        dataset = bigfit.Dataset(data, target=estimator.target_column_)
        if weights and weights[0] in dataset.columns:
            dataset = bigfit.Dataset(data, target=estimator.target_column_, weight=weights[0])
        metrics = estimator.evaluate(dataset, engine=engine)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    out = _console.stdout()
    table = Table(show_edge=False, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in ("n", "accuracy", "log_loss", "roc_auc", "r2", "rmse", "mae"):
        if metrics.get(name) is not None:
            value = metrics[name]
            table.add_row(name, f"{value:,}" if isinstance(value, int) else f"{value:.6g}")
    out.print(table)
    if "confusion_matrix" in metrics:
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)", show_edge=False)
        labels = [str(c) for c in metrics.get("classes") or range(len(metrics["confusion_matrix"]))]
        matrix.add_column("")
        for label in labels:
            matrix.add_column(label, justify="right")
        for label, row in zip(labels, metrics["confusion_matrix"], strict=True):
            matrix.add_row(label, *(f"{v:,.0f}" for v in row))
        out.print(matrix)
