"""``bigfit engines``: the engines this installation can run on."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from bigfit.cli import _console


def engines_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the engines --engine accepts, and how to install the missing ones."""
    from bigfit.engine import available_engines

    rows = available_engines()
    if as_json:
        typer.echo(json.dumps([{"engine": name, "available": ok, "usage": hint}
                               for name, ok, hint in rows], indent=2))
        return
    table = Table(show_edge=False, header_style="bold")
    table.add_column("engine")
    table.add_column("available")
    table.add_column("use as / install with")
    for name, ok, hint in rows:
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", hint)
    _console.stdout().print(table)
