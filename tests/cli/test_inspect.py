"""``bigfit inspect`` through CliRunner and through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from bigfit.cli import app

runner = CliRunner()


def test_table_output(parquet_dir: str) -> None:
    result = runner.invoke(app, ["inspect", parquet_dir, "--target", "y"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "6,000 rows, 8 columns, 3 parquet file(s)" in out
    assert "class balance of y: " in out and "shards: " in out
    for expected in ("city", "categorical", "timestamp[", "datetime", "target", "~4"):
        assert expected in out


def test_json_output_on_a_process_pool(parquet_dir: str) -> None:
    result = runner.invoke(app, ["inspect", parquet_dir, "--target", "y", "--json",
                                 "--engine", "local[2]", "--shards", "4", "--memory-limit", "256MB"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 6_000 and summary["engine"] == "local[2]"
    assert summary["shards"] == {"count": 4, "rows": [1_500] * 4, "imbalance": 1.0}
    assert sum(summary["class_balance"].values()) == 6_000
    column = next(c for c in summary["columns"] if c["name"] == "c")
    assert column["missing"] > 0 and column["role"] == "numeric"


def test_bad_input_is_one_line(parquet_dir: str, tmp_path) -> None:
    cases = [
        (["inspect", str(tmp_path / "missing")], "No such file or directory"),
        (["inspect", parquet_dir, "--target", "label"], "target column 'label' is not in"),
        (["inspect", parquet_dir, "--engine", "warp"], "Unknown engine 'warp'"),
        (["inspect", parquet_dir, "--memory-limit", "lots"], "memory size"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert "Traceback" not in result.output


def test_console_script(parquet_dir: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bigfit", "inspect", parquet_dir, "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 6_000
