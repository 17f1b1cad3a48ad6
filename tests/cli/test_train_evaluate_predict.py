"""``bigfit train``, ``evaluate`` and ``predict`` on a generated dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bigfit.cli import app
from bigfit.data.synthetic import make_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "data"
    make_dataset(out, rows=20_000, n_numeric=5, n_categorical=2, seed=1)
    return out


def test_train_evaluate_predict(sample: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.bigfit"
    result = runner.invoke(app, ["train", str(sample), "--target", "y", "--out", str(model),
                                 "--engine", "local[2]", "--memory-limit", "512MB"])
    assert result.exit_code == 0, result.output
    assert "trained LogisticRegression on" in result.stdout and "validation loss" in result.stdout
    assert model.exists()

    result = runner.invoke(app, ["evaluate", str(model), str(sample), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 20_000 and metrics["accuracy"] > 0.75 and metrics["roc_auc"] > 0.8
    assert np.sum(metrics["confusion_matrix"]) == 20_000
    assert "confusion matrix" in runner.invoke(app, ["evaluate", str(model), str(sample)]).stdout

    preds = tmp_path / "preds.parquet"
    result = runner.invoke(app, ["predict", str(model), str(sample), "--out", str(preds), "--id", "c0"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(preds)
    assert table.column_names == ["c0", "prediction", "proba_0", "proba_1"] and table.num_rows == 20_000
    np.testing.assert_allclose(table.column("proba_0").to_numpy() + table.column("proba_1").to_numpy(), 1.0)

    parts = tmp_path / "parts"
    result = runner.invoke(app, ["predict", str(model), str(sample), "--out", str(parts), "--id", "c0",
                                 "--engine", "local[2]"])
    assert result.exit_code == 0, result.output
    in_parallel = pq.read_table(parts)
    assert in_parallel.sort_by("c0").equals(table.sort_by("c0"))


def test_train_regression_with_sgd(sample: Path, tmp_path: Path) -> None:
    model = tmp_path / "reg.bigfit"
    result = runner.invoke(app, ["train", str(sample), "--target", "f0", "--model", "sgd-regressor",
                                 "--epochs", "3", "--out", str(model)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(runner.invoke(app, ["evaluate", str(model), str(sample), "--json"]).stdout)
    assert set(metrics) >= {"r2", "rmse", "mae"}


def test_bad_input_is_one_line(sample: Path, tmp_path: Path) -> None:
    cases = [
        (["train", str(sample), "--target", "nope", "--out", str(tmp_path / "m.bigfit")],
         "target column 'nope' is not in"),
        (["evaluate", str(sample / "part-00000.parquet"), str(sample)], "not written by bigfit"),
        (["predict", str(tmp_path / "missing.bigfit"), str(sample), "--out", str(tmp_path / "p.parquet")],
         "missing.bigfit"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr


def test_interrupted_training_resumes(sample: Path, tmp_path: Path, monkeypatch) -> None:
    import bigfit
    from bigfit.models.linear._base import LinearModel

    model = tmp_path / "model.bigfit"
    args = ["train", str(sample), "--target", "y", "--out", str(model), "--checkpoint-every", "0",
            "--solver", "adam", "--epochs", "4", "--seed", "3"]
    original = LinearModel.fit

    def interrupted(self, *a, **k):
        class Stop:
            def on_fit_start(self, info): ...
            def on_fit_end(self, logs): ...
            def on_epoch_end(self, epoch, logs):
                if epoch == 2:
                    raise KeyboardInterrupt
        k["callbacks"] = [*k.get("callbacks", []), Stop()]
        return original(self, *a, **k)

    monkeypatch.setattr(LinearModel, "fit", interrupted)
    result = runner.invoke(app, args)
    assert result.exit_code == 130 and "--resume" in result.stderr
    assert (tmp_path / "model.bigfit.checkpoint").exists() and not model.exists()
    monkeypatch.setattr(LinearModel, "fit", original)
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0
    resumed = bigfit.load(str(model))
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    np.testing.assert_array_equal(bigfit.load(str(model)).coef_, resumed.coef_)
    assert not (tmp_path / "model.bigfit.checkpoint").exists()
