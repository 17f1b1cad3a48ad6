"""``bigfit pca`` then ``bigfit predict`` on generated data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.decomposition import PCA as SkPCA
from typer.testing import CliRunner

from bigfit.cli import app
from bigfit.data.synthetic import make_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def numeric(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-pca") / "data"
    make_dataset(out, rows=6_000, kind="regression", n_numeric=8, n_categorical=0, row_group_size=1_000,
                 seed=3)
    return out


def test_pca_writes_scores_model_and_scree_plot(numeric: Path, tmp_path: Path) -> None:
    reduced, model, plot = tmp_path / "reduced", tmp_path / "pca.bigfit", tmp_path / "scree.png"
    result = runner.invoke(app, ["pca", str(numeric), "--components", "3", "--out", str(reduced),
                                 "--id", "y", "--model", str(model), "--plot", str(plot),
                                 "--engine", "local[2]"])
    assert result.exit_code == 0, result.output
    assert "PCA of 6,000 rows x 8 features" in result.stdout
    assert "(covariance solver, 1 pass)" in result.stdout
    assert "wrote 6,000 rows of scores" in result.stdout and "pca2" in result.stdout
    assert model.exists() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    table = pq.read_table(reduced).sort_by("y")
    assert table.column_names == ["y", "pca0", "pca1", "pca2"] and table.num_rows == 6_000
    raw = pq.read_table(numeric).sort_by("y")
    X = np.column_stack([raw.column(f"f{j}").to_numpy() for j in range(8)]).astype(np.float32)
    theirs = SkPCA(n_components=3).fit(X.astype(np.float64))
    scores = np.column_stack([table.column(f"pca{j}").to_numpy() for j in range(3)])
    expected = theirs.transform(X.astype(np.float64))
    signs = np.sign(np.sum(scores * expected, axis=0))
    np.testing.assert_allclose(scores * signs, expected, atol=1e-4)

    projected = tmp_path / "projected.parquet"
    result = runner.invoke(app, ["predict", str(model), str(numeric), "--out", str(projected), "--id", "y"])
    assert result.exit_code == 0, result.output
    again = pq.read_table(projected).sort_by("y")
    assert again.column_names == ["y", "pca0", "pca1", "pca2"]
    np.testing.assert_allclose(again.column("pca0").to_numpy(), table.column("pca0").to_numpy(), rtol=1e-12)


def test_randomized_solver_and_exclude(numeric: Path, tmp_path: Path) -> None:
    out = tmp_path / "reduced.parquet"
    result = runner.invoke(app, ["pca", str(numeric), "-k", "2", "--out", str(out), "--exclude", "y",
                                 "--solver", "randomized", "--iterated-power", "1", "--standardize"])
    assert result.exit_code == 0, result.output
    assert "randomized solver, 3 passes" in result.stdout
    assert pq.read_table(out).column_names == ["pca0", "pca1"]


def test_missing_matplotlib_names_the_extra(numeric: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = runner.invoke(app, ["pca", str(numeric), "-k", "2", "--out", str(tmp_path / "r"),
                                 "--plot", str(tmp_path / "scree.png")])
    assert result.exit_code == 2, result.output
    assert "pip install 'bigfit[plot]'" in result.stderr


def test_bad_input_is_one_line(numeric: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    cases = [
        (["pca", str(numeric), "-k", "12", "--out", str(tmp_path / "r")],
         "n_components=12 must be at most min(n_samples, n_features)=9"),
        (["pca", str(numeric), "-k", "2", "--exclude", "label", "--out", str(tmp_path / "r")],
         "--exclude/--id name column(s) ['label']"),
        (["pca", str(numeric), "-k", "2", "--out", str(tmp_path / "taken")], "pass --overwrite"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
