"""Checkpoints: throttled atomic saves, integrity checks, and refusal to resume another run."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest

from bigfit.exceptions import InvalidParameterError
from bigfit.io import checkpoint, model_file
from bigfit.io.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointMismatchError,
    CheckpointWriter,
    load_checkpoint,
    run_fingerprint,
)
from bigfit.io.model_file import ModelFileError, load_model, save_model
from tests.conftest import assert_states_equal

FINGERPRINT = run_fingerprint({"alpha": 0.1, "seed": 0}, "data:abc")


class FakeClock:
    """Stands in for the ``time`` module in :mod:`bigfit.io.checkpoint`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(checkpoint, "time", fake)
    return fake


def example_state(epoch: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    state = {"epoch": epoch, "position": {"shard": 3, "row": 4096},
             "optimizer": {"step": np.float32(0.01) * epoch, "moments": np.full(3, epoch, float)}}
    return state, {"coef": np.arange(4, dtype=np.float32) * epoch, "mask": np.array([True])}


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path / "run", fingerprint=FINGERPRINT)
    state, arrays = example_state(2)
    writer.save(state, arrays)
    loaded_state, loaded_arrays = load_checkpoint(tmp_path / "run", fingerprint=FINGERPRINT)
    assert_states_equal(loaded_arrays, arrays)
    assert loaded_state["epoch"] == 2
    assert loaded_state["position"] == {"shard": 3, "row": 4096}
    assert_states_equal(loaded_state["optimizer"]["moments"], np.full(3, 2.0))
    assert [p.name for p in (tmp_path / "run").iterdir()] == [CHECKPOINT_NAME]


def test_no_checkpoint_gives_none(tmp_path: Path) -> None:
    assert load_checkpoint(tmp_path, fingerprint=FINGERPRINT) is None
    assert load_checkpoint(tmp_path / "missing", fingerprint=FINGERPRINT) is None


def test_maybe_save_is_throttled(tmp_path: Path, clock: FakeClock) -> None:
    writer = CheckpointWriter(tmp_path, fingerprint=FINGERPRINT, every_seconds=60)
    calls: list[int] = []

    def build() -> tuple[dict, dict]:
        calls.append(len(calls) + 1)
        return example_state(len(calls))

    clock.now += 59.9
    assert not writer.due
    assert writer.maybe_save(build) is False
    assert calls == [] and load_checkpoint(tmp_path, fingerprint=FINGERPRINT) is None
    clock.now += 0.1
    assert writer.maybe_save(build) is True
    assert calls == [1]
    clock.now += 30
    assert writer.maybe_save(build) is False  # counted from the last save
    clock.now += 30
    assert writer.maybe_save(build) is True
    assert load_checkpoint(tmp_path, fingerprint=FINGERPRINT)[0]["epoch"] == 2
    writer.save(*example_state(9))  # unconditional, and restarts the count
    assert writer.maybe_save(build) is False
    assert load_checkpoint(tmp_path, fingerprint=FINGERPRINT)[0]["epoch"] == 9


def test_every_seconds_zero_saves_every_time(tmp_path: Path, clock: FakeClock) -> None:
    writer = CheckpointWriter(tmp_path, fingerprint=FINGERPRINT, every_seconds=0)
    assert writer.maybe_save(lambda: example_state(1))
    assert writer.maybe_save(lambda: example_state(2))


def test_failed_save_keeps_previous_checkpoint(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    writer = CheckpointWriter(tmp_path, fingerprint=FINGERPRINT)
    writer.save(*example_state(1))

    def fail(*args: Any) -> dict:
        raise KeyboardInterrupt  # a crash while writing

    monkeypatch.setattr(model_file, "_write_array", fail)
    with pytest.raises(KeyboardInterrupt):
        writer.save(*example_state(2))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]
    assert load_checkpoint(tmp_path, fingerprint=FINGERPRINT)[0]["epoch"] == 1


def test_other_fingerprint_is_refused(tmp_path: Path) -> None:
    CheckpointWriter(tmp_path, fingerprint=FINGERPRINT).save(*example_state(1))
    other = run_fingerprint({"alpha": 0.2, "seed": 0}, "data:abc")
    with pytest.raises(CheckpointMismatchError,
                       match=r"belongs to another run.*data or the parameters changed.*delete"):
        load_checkpoint(tmp_path, fingerprint=other)
    assert load_checkpoint(tmp_path, fingerprint=None)[0]["epoch"] == 1  # inspection only


def test_other_bigfit_version_is_refused(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_file, "__version__", "0.0.1")
    CheckpointWriter(tmp_path, fingerprint=FINGERPRINT).save(*example_state(1))
    monkeypatch.undo()
    with pytest.raises(CheckpointMismatchError, match=r"written by bigfit 0\.0\.1; this is bigfit"):
        load_checkpoint(tmp_path, fingerprint=FINGERPRINT)


def test_corrupt_checkpoint_is_refused(tmp_path: Path) -> None:
    CheckpointWriter(tmp_path, fingerprint=FINGERPRINT).save(*example_state(1))
    path = tmp_path / CHECKPOINT_NAME
    data = bytearray(path.read_bytes())
    at = data.index((np.arange(4, dtype=np.float32)).tobytes()) + 5
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"checkpoint.*'arrays/named_arrays\.coef\.npy'"):
        load_checkpoint(tmp_path, fingerprint=FINGERPRINT)


def test_checkpoint_and_model_file_are_not_interchangeable(tmp_path: Path) -> None:
    CheckpointWriter(tmp_path, fingerprint=FINGERPRINT).save(*example_state(1))
    with pytest.raises(ModelFileError, match="is a bigfit checkpoint; expected a model file"):
        load_model(tmp_path / CHECKPOINT_NAME)
    save_model(tmp_path / CHECKPOINT_NAME, estimator="X", params={}, state={})
    with pytest.raises(ModelFileError, match="is a bigfit model file; expected a checkpoint"):
        load_checkpoint(tmp_path, fingerprint=FINGERPRINT)


def test_round_trip_through_memory_url() -> None:
    root = f"memory://bigfit-test-{uuid.uuid4().hex}/run/"
    try:
        writer = CheckpointWriter(root, fingerprint=FINGERPRINT)
        assert writer.path == root + CHECKPOINT_NAME
        assert load_checkpoint(root, fingerprint=FINGERPRINT) is None
        writer.save(*example_state(3))
        state, arrays = load_checkpoint(root, fingerprint=FINGERPRINT)
        assert state["epoch"] == 3
        assert_states_equal(arrays, example_state(3)[1])
    finally:
        fsspec.filesystem("memory").rm(root.removeprefix("memory://").split("/")[0],
                                       recursive=True)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"every_seconds": -1}, "'every_seconds'.*range"),
    ({"every_seconds": float("inf")}, "'every_seconds'"),
    ({"every_seconds": "60"}, "'every_seconds'"),
    ({"fingerprint": None}, "'fingerprint'"),
])
def test_bad_settings_are_refused(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        CheckpointWriter(tmp_path, **{"fingerprint": FINGERPRINT, **kwargs})


def test_checkpoint_arrays_must_be_arrays(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path, fingerprint=FINGERPRINT)
    with pytest.raises(InvalidParameterError, match="'coef' is a list"):
        writer.save({}, {"coef": [1.0, 2.0]})
    assert list(tmp_path.iterdir()) == []


def test_run_fingerprint() -> None:
    base = run_fingerprint({"alpha": 0.1}, np.arange(3))
    assert base == run_fingerprint({"alpha": 0.1}, np.arange(3))
    assert len(base) == 64
    assert base != run_fingerprint({"alpha": 0.1}, np.arange(3.0))  # dtype counts
    assert base != run_fingerprint({"alpha": 0.1}, np.array([0, 1, 5]))
    assert base != run_fingerprint({"alpha": 0.1})
