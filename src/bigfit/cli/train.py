"""``bigfit train``: fit a model on a dataset and save it."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import typer

from bigfit.cli import _console
from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings


class ModelKind(StrEnum):
    """The estimators the command line trains."""

    logistic = "logistic"
    linear = "linear"
    sgd_classifier = "sgd-classifier"
    sgd_regressor = "sgd-regressor"


_CLASSES = {"logistic": "LogisticRegression", "linear": "LinearRegression",
            "sgd-classifier": "SGDClassifier", "sgd-regressor": "SGDRegressor"}


def train_command(
    data: Annotated[str, typer.Argument(metavar="DATA", help="Training data: file, glob, directory or URL.",
                                        show_default=False)],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.",
                                        show_default=False)],
    out: Annotated[str, typer.Option("--out", "-o", help="Where to write the model (.bigfit).",
                                     show_default=False)],
    model: Annotated[ModelKind, typer.Option("--model", "-m", help="What to fit.")] = ModelKind.logistic,
    solver: Annotated[str, typer.Option(help="auto, lbfgs, sgd, adagrad, adam or ftrl.")] = "auto",
    epochs: Annotated[int | None, typer.Option(
        "--epochs", min=1, help="Epochs (mini-batch solvers) or iterations (L-BFGS).",
        show_default=False)] = None,
    alpha: Annotated[float, typer.Option(min=0.0, help="Regularisation strength.")] = 1e-4,
    l1_ratio: Annotated[float, typer.Option("--l1-ratio", min=0.0, max=1.0,
                                            help="Share of L1 in the penalty.")] = 0.0,
    validation: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Holdout fraction for validation loss and early stopping (0: none).")] = 0.1,
    weight: Annotated[str | None, typer.Option(help="A column of sample weights.")] = None,
    categorical: Annotated[str, typer.Option(help="onehot (top values) or hash.")] = "onehot",
    seed: Annotated[int, typer.Option(min=0, help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue a run that stopped, from its checkpoint.")] = False,
    checkpoint_every: Annotated[float, typer.Option(
        "--checkpoint-every", min=0.0, help="Seconds between checkpoints.")] = 60.0,
    engine: EngineOption = DEFAULT_ENGINE,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Fit a model on DATA, show each epoch's losses, and save it to OUT.

    The run checkpoints to OUT.checkpoint/ as it goes; if it stops (killed, Ctrl-C), the
    same command with --resume continues where it was and ends with the same model.
    """
    import os
    import shutil

    import bigfit
    from bigfit.cli._progress import TrainingProgress
    from bigfit.exceptions import InvalidParameterError

    if os.path.exists(out) and not (overwrite or resume):
        raise InvalidParameterError(f"{out} exists; pass --overwrite to replace it.")
    checkpoint_dir = f"{out}.checkpoint"
    with settings(memory_limit=memory_limit):
        dataset = bigfit.Dataset(data, target=target, weight=weight)
        params = {"solver": solver, "alpha": alpha, "l1_ratio": l1_ratio, "categorical": categorical,
                  "random_state": seed, "early_stopping": validation > 0,
                  "validation_fraction": validation if validation > 0 else 0.1,
                  "engine": engine, "memory_limit": memory_limit}
        if epochs is not None:
            params["max_iter"] = epochs
        estimator = getattr(bigfit, _CLASSES[model.value])(**params)
        progress = TrainingProgress()
        started = time.perf_counter()
        try:
            estimator.fit(dataset, callbacks=[progress], checkpoint_dir=checkpoint_dir,
                          checkpoint_every=checkpoint_every, resume=resume)
        except KeyboardInterrupt:
            _console.print_error(f"interrupted; continue with the same command and --resume "
                                 f"(checkpoint in {checkpoint_dir})")
            raise typer.Exit(130) from None
        seconds = time.perf_counter() - started
        estimator.save(out)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    out_console = _console.stdout()
    for line in progress.lines[-5:]:
        out_console.print(line, highlight=False)
    last = estimator.history_[-1] if estimator.history_ else {}
    summary = f"trained {type(estimator).__name__} on {estimator.n_rows_seen_:,} rows in " \
              f"{_console.format_seconds(seconds)} ({estimator.n_iter_} iterations)"
    if "validation_loss" in last:
        summary += f", validation loss {last['validation_loss']:.5f}"
    out_console.print(f"{summary}; saved to {out}", highlight=False, soft_wrap=True)
