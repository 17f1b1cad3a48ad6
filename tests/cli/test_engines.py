"""``bigfit engines``: what --engine accepts here, and how to install the rest."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bigfit.cli import app
from bigfit.engine import register_engine, registry

runner = CliRunner()


@pytest.fixture
def missing_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_ENGINES", dict(registry._ENGINES))
    register_engine("fakecluster", "bigfit_no_such_module:Engine", extra="fakecluster")


def test_lists_local_as_available() -> None:
    result = runner.invoke(app, ["engines"])
    assert result.exit_code == 0
    assert "local[N]" in result.output and "yes" in result.output


def test_json_names_the_install_command_of_a_missing_engine(missing_engine: None) -> None:
    result = runner.invoke(app, ["engines", "--json"])
    assert result.exit_code == 0
    rows = {row["engine"]: row for row in json.loads(result.output)}
    assert rows["local"] == {"engine": "local", "available": True, "usage": "local, local[N], local[*]"}
    assert rows["fakecluster"]["available"] is False
    assert rows["fakecluster"]["usage"] == "pip install 'bigfit[fakecluster]'"
