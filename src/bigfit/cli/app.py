"""The root ``bigfit`` app: global flags, command registration and error display.

Adding a command is one line at the bottom of this module::

    app.command("inspect")(inspect_command)

Errors derived from :class:`~bigfit.exceptions.BigfitError` and usage errors (a bad
option value, an unknown command) print as one red ``error: ...`` line with exit code
2; any other exception is a bug and propagates with its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from bigfit._version import __version__
from bigfit.cli._console import print_error
from bigfit.cli.cluster import cluster_command
from bigfit.cli.engines import engines_command
from bigfit.cli.evaluate import evaluate_command
from bigfit.cli.inspect import inspect_command
from bigfit.cli.make_data import make_data
from bigfit.cli.pca import pca_command
from bigfit.cli.predict import predict_command
from bigfit.cli.train import train_command
from bigfit.exceptions import BigfitError

try:  # typer >= 0.22 ships its own copy of click
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer runs on click
    from click.exceptions import UsageError  # type: ignore[assignment]

__all__ = ["app", "main"]

EXIT_ERROR = 2


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    try:
        yield
    except BigfitError as exc:
        print_error(str(exc))
        raise typer.Exit(EXIT_ERROR) from exc
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # carries the help text: show as is
            raise
        message = exc.format_message().rstrip(".") + "."
        if exc.ctx is not None:
            message += f" Run '{exc.ctx.command_path} --help' for usage."
        print_error(message)
        raise typer.Exit(EXIT_ERROR) from exc


class _Group(TyperGroup):
    """Typer's group, printing library and usage errors as one line.

    Catching them here rather than in :func:`main` makes ``CliRunner`` tests see the
    same output and exit code as the console script.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with _one_line_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_errors():
            return super().invoke(ctx)


app = typer.Typer(
    cls=_Group,
    name="bigfit",
    help="Train machine-learning models on datasets larger than memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"bigfit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:
    """Train machine-learning models on datasets larger than memory."""


def main() -> None:
    """Run the ``bigfit`` command line (the console script's entry point)."""
    app(prog_name="bigfit")


app.command("make-data")(make_data)
app.command("inspect")(inspect_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.command("cluster")(cluster_command)
app.command("pca")(pca_command)
app.command("engines")(engines_command)
