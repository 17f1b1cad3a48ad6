"""Predictions of a whole dataset written by this process or by an engine's workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bigfit
from bigfit.exceptions import TaskError
from bigfit.models._predict import write_predictions


@pytest.fixture(scope="module")
def data_and_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[bigfit.Dataset, bigfit.LogisticRegression]:
    root = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8_000, 4))
    y = (X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=8_000) > 0).astype(int)
    table = pa.table({"id": np.arange(8_000), **{f"x{j}": X[:, j] for j in range(4)}, "y": y})
    pq.write_table(table, root / "data.parquet", row_group_size=1_000)
    data = bigfit.Dataset(root / "data.parquet", target="y")
    model = bigfit.LogisticRegression(max_iter=20).fit(data.select([f"x{j}" for j in range(4)], target="y"))
    return bigfit.Dataset(root / "data.parquet"), model


def test_workers_write_the_same_rows_as_one_process(data_and_model, tmp_path: Path) -> None:
    data, model = data_and_model
    one = write_predictions(model, data, str(tmp_path / "one.parquet"), passthrough=["id"])
    many = write_predictions(model, data, str(tmp_path / "many"), passthrough=["id"], engine="local[2]")
    assert one == many == 8_000
    single = pq.read_table(tmp_path / "one.parquet")
    parts = sorted((tmp_path / "many").glob("part-*.parquet"))
    assert len(parts) >= 4  # two shards per worker at least
    assert pa.concat_tables(pq.read_table(p) for p in parts).equals(single)  # part order = row order


class _FailsOnOneShard:
    """A model whose prediction of the rows after id 5000 raises."""

    def __init__(self, model: bigfit.LogisticRegression) -> None:
        self.model = model

    def _prediction_view(self, data, passthrough):
        return self.model._prediction_view(data, passthrough)

    def _batch_predictions(self, batch):
        if batch.extra["id"].max() > 5_000:
            raise RuntimeError("boom")
        return self.model._batch_predictions(batch)


def test_a_failed_task_leaves_nothing_behind(data_and_model, tmp_path: Path) -> None:
    data, model = data_and_model
    out = tmp_path / "out"
    with pytest.raises(TaskError, match="boom"):
        write_predictions(_FailsOnOneShard(model), data, str(out), passthrough=["id"], engine="local[2]")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
