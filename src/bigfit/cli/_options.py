"""Options that many commands share, defined once.

Use them as parameter annotations, with the defaults given here::

    from bigfit.cli._options import DEFAULT_ENGINE, EngineOption, MemoryLimitOption, settings

    def train(..., memory_limit: MemoryLimitOption = None,
              engine: EngineOption = DEFAULT_ENGINE) -> None:
        with settings(memory_limit=memory_limit):
            ...
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Annotated

import typer

from bigfit._config import config_context, parse_size

GLOBAL_PANEL = "Global options"
DEFAULT_ENGINE = "local"

MemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        envvar="BIGFIT_MEMORY_LIMIT",
        help="Memory budget, such as 2GB or 512MiB [default: a quarter of RAM].",
        show_default=False,
        rich_help_panel=GLOBAL_PANEL,
    ),
]

EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where to run: local, local[4], ray://host:10001, spark://host:7077.",
        rich_help_panel=GLOBAL_PANEL,
    ),
]


@contextlib.contextmanager
def settings(*, memory_limit: str | None = None) -> Iterator[None]:
    """Apply the global options to the library while a command runs.

    A bad ``memory_limit`` raises :class:`~bigfit.exceptions.InvalidParameterError`,
    which the app prints as a one-line error.
    """
    if memory_limit is None:
        yield
        return
    with config_context(memory_limit=parse_size(memory_limit)):
        yield


_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmMgG]?)\s*$")
_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def parse_count(value: str) -> int:
    """Read a positive count written as ``1000000``, ``1_000_000``, ``1e6`` or ``1M``.

    Use as ``typer.Option(parser=parse_count)``.

    Examples
    --------
    >>> parse_count("2.5k"), parse_count("1e6"), parse_count("10_000")
    (2500, 1000000, 10000)
    """
    match = _COUNT.match(str(value).replace("_", "").replace(",", ""))
    count = 0.0
    if match is not None:
        count = float(match.group(1)) * _COUNT_UNITS[match.group(2).lower()]
    if count < 1 or count != int(count):
        raise typer.BadParameter(
            f"{value!r} is not a positive whole number; write it like 1000000, 1e6 or 1M."
        )
    return int(count)
