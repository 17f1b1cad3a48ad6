"""``python -m bigfit``: the command line."""

from bigfit.cli import main

main()
