"""Terminal output shared by the commands: error lines, progress bars, number formats."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Progress


def stdout() -> Console:
    """Return a console on the current ``sys.stdout`` (test runners swap it).

    When stdout is not a terminal (a pipe, a file, CI), tables get 160 columns instead of
    rich's 80 so that they are not cut.
    """
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console


def stderr() -> Console:
    """Return a console on the current ``sys.stderr``."""
    return Console(stderr=True, highlight=False)


def print_error(message: str) -> None:
    """Print ``error: <message>`` in red on stderr, on one line whatever its length."""
    line = Text.assemble(("error: ", "bold red"), (message, "red"))
    stderr().print(line, soft_wrap=True)


def progress_bar(unit: str) -> Progress:
    """Return a transient progress bar on stderr, silent when stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = stderr()
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def format_bytes(size: float) -> str:
    """Return a size in decimal units.

    Examples
    --------
    >>> format_bytes(401_234_567)
    '401.2 MB'
    >>> format_bytes(512)
    '512 B'
    """
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def format_seconds(seconds: float) -> str:
    """Return a duration such as ``'850 ms'``, ``'12.3 s'`` or ``'2 min 05 s'``.

    Examples
    --------
    >>> format_seconds(125.2)
    '2 min 05 s'
    """
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
