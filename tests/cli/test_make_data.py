"""``bigfit make-data`` through CliRunner and through the real console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bigfit.cli import app
from bigfit.data.synthetic import DatasetTruth

runner = CliRunner()


def test_happy_path(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(app, ["make-data", str(out), "--rows", "2k", "--numeric", "3",
                                 "--files", "2", "--seed", "4"])
    assert result.exit_code == 0, result.output
    assert "2,000 x 6 columns (classification)" in result.stdout
    assert "2 parquet" in result.stdout
    assert " kB" in result.stdout and "rows/s" in result.stdout
    truth = DatasetTruth.load(out)
    assert (truth.rows, truth.seed, len(truth.files)) == (2000, 4, 2)
    assert pq.read_table(out).num_rows == 2000


def test_options_reach_the_generator(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(app, [
        "make-data", str(out), "-n", "500", "--kind", "blobs", "--format", "csv",
        "--numeric", "2", "--clusters", "3", "--row-group-size", "100",
    ])
    assert result.exit_code == 0, result.output
    truth = DatasetTruth.load(out)
    assert truth.kind == "blobs" and truth.format == "csv"
    assert truth.cluster_centers is not None and truth.cluster_centers.shape == (3, 2)
    assert truth.categorical_columns == ()


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--rows", "0"], "error: Invalid value for '--rows'"),
        (["--rows", "10", "--kind", "tree"], "error: Invalid value for '--kind'"),
        (["--rows", "10", "--numeric", "0", "--categorical", "0"],
         "error: make_dataset needs at least one feature"),
    ],
)
def test_bad_input_is_one_clean_line(tmp_path: Path, args: list[str], start: str) -> None:
    result = runner.invoke(app, ["make-data", str(tmp_path / "d"), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(start)
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_existing_directory_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["make-data", str(out), "--rows", "10", "--numeric", "1"]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, [*args, "--seed", "1"])
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert runner.invoke(app, [*args, "--seed", "1", "--overwrite"]).exit_code == 0
    assert DatasetTruth.load(out).seed == 1


def bigfit_script() -> str:
    script = shutil.which("bigfit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the bigfit console script is not installed next to this Python")
    return script


def test_console_script(tmp_path: Path) -> None:
    out = tmp_path / "data"
    ok = subprocess.run([bigfit_script(), "make-data", str(out), "--rows", "1000",
                         "--kind", "regression", "--numeric", "2"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "1,000 x 5 columns (regression)" in ok.stdout
    assert DatasetTruth.load(out).kind == "regression"

    for bad in (["--rows", "0"], ["--rows", "5", "--kind", "tree"]):
        result = subprocess.run([bigfit_script(), "make-data", str(tmp_path / "x"), *bad],
                                capture_output=True, text=True)
        assert result.returncode == 2
        assert result.stderr.startswith("error: Invalid value for")
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
