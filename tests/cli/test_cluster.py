"""``bigfit cluster`` then ``bigfit predict`` on generated blobs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from bigfit.cli import app
from bigfit.data.synthetic import make_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-cluster") / "data"
    make_dataset(out, rows=10_000, kind="blobs", n_numeric=3, n_clusters=4, noise=0.3, seed=2,
                 row_group_size=2_000)
    return out


@pytest.mark.parametrize("algorithm", ["lloyd", "minibatch"])
def test_cluster_then_predict(blobs: Path, tmp_path: Path, algorithm: str) -> None:
    model = tmp_path / "model.bigfit"
    result = runner.invoke(app, ["cluster", str(blobs), "--k", "4", "--algorithm", algorithm,
                                 "--exclude", "y", "--standardize", "--out", str(model),
                                 "--engine", "local[2]"])
    assert result.exit_code == 0, result.output
    assert "clustered 10,000 rows into 4 clusters" in result.stdout and model.exists()

    preds = tmp_path / "clusters.parquet"
    result = runner.invoke(app, ["predict", str(model), str(blobs), "--out", str(preds), "--id", "y"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(preds)
    assert table.column_names == ["y", "cluster", "distance"] and table.num_rows == 10_000
    assert adjusted_rand_score(table.column("y").to_numpy(), table.column("cluster").to_numpy()) > 0.99


def test_bad_input_is_one_line(blobs: Path, tmp_path: Path) -> None:
    cases = [
        (["cluster", str(blobs), "--k", "20000", "--exclude", "y", "--out", str(tmp_path / "m.bigfit")],
         "n_samples=10000 should be >= n_clusters=20000"),
        (["cluster", str(blobs), "--k", "3", "--exclude", "label", "--out", str(tmp_path / "m.bigfit")],
         "--exclude names column(s) ['label']"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
