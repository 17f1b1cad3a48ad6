"""The ``bigfit`` command line: a typer app, the only part of bigfit that prints.

Command modules import the library lazily inside their functions, so that importing
this package (and ``bigfit --help``) loads neither numpy nor pyarrow.
"""

from __future__ import annotations

from bigfit.cli.app import app, main

__all__ = ["app", "main"]
