"""The root app: version, help, error display, shared options, import cost."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bigfit import __version__
from bigfit._config import memory_limit as current_memory_limit
from bigfit.cli import app
from bigfit.cli._options import (
    DEFAULT_ENGINE,
    EngineOption,
    MemoryLimitOption,
    parse_count,
    settings,
)
from bigfit.cli.app import _Group
from bigfit.exceptions import DataError

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"bigfit {__version__}\n"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "make-data" in result.output and "--version" in result.output


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "make-data" in result.output
    assert "error" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "error: No such command 'nope'. Run 'bigfit --help' for usage.\n"),
        (["--bad"], "error: No such option: --bad. Run 'bigfit --help' for usage.\n"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, prog_name="bigfit")
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""


def demo_app() -> typer.Typer:
    """An app built like bigfit's, with commands that fail and use the shared options."""
    demo = typer.Typer(cls=_Group)

    @demo.command()
    def fail(kind: str) -> None:
        if kind == "bigfit":
            raise DataError("column 'label' has 3 missing values; drop or fill them " * 3)
        raise RuntimeError("a bug")

    @demo.command()
    def limits(memory_limit: MemoryLimitOption = None,
               engine: EngineOption = DEFAULT_ENGINE) -> None:
        with settings(memory_limit=memory_limit):
            typer.echo(f"{current_memory_limit()} {engine}")

    return demo


def test_bigfit_errors_are_one_clean_line_with_exit_code_2() -> None:
    result = runner.invoke(demo_app(), ["fail", "bigfit"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1  # long messages are not wrapped
    assert lines[0].startswith("error: column 'label' has 3 missing values")
    assert "Traceback" not in result.output


def test_other_exceptions_propagate() -> None:
    result = runner.invoke(demo_app(), ["fail", "other"])
    assert isinstance(result.exception, RuntimeError)
    assert result.exit_code == 1


def test_shared_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIGFIT_MEMORY_LIMIT", raising=False)
    result = runner.invoke(demo_app(), ["limits", "--memory-limit", "2GB", "--engine", "local[4]"])
    assert result.output == "2000000000 local[4]\n"
    result = runner.invoke(demo_app(), ["limits"], env={"BIGFIT_MEMORY_LIMIT": "1MiB"})
    assert result.output == "1048576 local\n"


def test_bad_memory_limit_is_a_clean_error() -> None:
    result = runner.invoke(demo_app(), ["limits", "--memory-limit", "lots"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Cannot read 'lots' as a memory size")


def test_settings_without_a_limit_changes_nothing() -> None:
    before = current_memory_limit()
    with settings():
        assert current_memory_limit() == before


@pytest.mark.parametrize(
    ("text", "count"),
    [("1000", 1000), ("1_000_000", 10**6), ("1,000", 1000), ("1e6", 10**6), ("2.5k", 2500),
     ("10M", 10**7), ("1G", 10**9)],
)
def test_parse_count(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "ten", "1e-3", "5 MB"])
def test_parse_count_rejects(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="not a positive whole number"):
        parse_count(text)


def test_importing_the_cli_loads_no_numerics() -> None:
    code = (
        "import sys, bigfit.cli, typer.main; typer.main.get_command(bigfit.cli.app); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pyarrow', 'pandas'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def bigfit_script() -> str:
    script = shutil.which("bigfit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the bigfit console script is not installed next to this Python")
    return script


def test_console_script_version_and_help() -> None:
    version = subprocess.run([bigfit_script(), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout == f"bigfit {__version__}\n"
    help_ = subprocess.run([bigfit_script(), "--help"], capture_output=True, text=True)
    assert help_.returncode == 0 and "make-data" in help_.stdout
