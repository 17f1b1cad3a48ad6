"""Model files: exact round trips, atomic writes, and refusal of anything not written by bigfit."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest

from bigfit.data.batch import Batch
from bigfit.data.transforms import FeatureTransformer
from bigfit.exceptions import (
    BigfitError,
    DataNotFoundError,
    InvalidParameterError,
    MissingDependencyError,
)
from bigfit.io import model_file
from bigfit.io.model_file import (
    FormatVersionError,
    ModelFileError,
    flatten_state,
    load_model,
    save_model,
    unflatten_state,
)
from bigfit.models import registry
from bigfit.models.registry import (
    UnknownEstimatorError,
    estimator_class,
    register_estimator,
    registered_estimators,
)
from tests.conftest import assert_states_equal


@register_estimator("tests.Dummy")
class Dummy:
    """The smallest estimator that can be saved: a coefficient vector and its classes."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def _get_model_state(self) -> tuple[dict, dict, dict]:
        return ({"alpha": self.alpha}, {"coef": self.coef_, "classes": self.classes_},
                {"loss": 0.25})

    @classmethod
    def _from_model_state(cls, params: dict, state: dict) -> Dummy:
        estimator = cls(**params)
        estimator.coef_, estimator.classes_ = state["coef"], state["classes"]
        return estimator


def fitted_dummy() -> Dummy:
    estimator = Dummy(alpha=0.5)
    estimator.coef_ = np.array([[1.0, -2.5], [0.0, 3.25]])
    estimator.classes_ = ["no", "yes"]
    return estimator


def nested_state() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "schema": {"columns": ["a", "b", "city"], "roles": {"y": "target"}},
        "n_samples_seen": 2**62 + 1,
        "tol": 1e-300,
        "inf": float("inf"),
        "flag": True,
        "nothing": None,
        "numpy_scalars": [np.int64(7), np.float32(0.5), np.bool_(False)],
        "pair": (1, "two"),
        "coef": rng.normal(size=(3, 4)),
        "fortran": np.asfortranarray(rng.normal(size=(2, 5)).astype(np.float32)),
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "half": np.array([1.5, -0.25], dtype=np.float16),
        "complex": np.array([1 + 2j, -3j]),
        "mask": np.array([True, False, True]),
        "codes": np.array([-128, 0, 127], dtype=np.int8),
        "hashes": np.array([0, 2**64 - 1], dtype=np.uint64),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 3), dtype=np.int32),
        "nan": np.array([np.nan, 1.0]),
        "trees": [{"value": np.full(2, i, dtype=np.int16), "depth": i} for i in range(3)],
        "odd key/with spaces": {"deep": {"deeper": np.ones(1)}},
    }


def plain(state: Any) -> Any:
    """What a round trip must give back: tuples as lists, numpy scalars as Python numbers."""
    if isinstance(state, dict):
        return {key: plain(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return [plain(value) for value in state]
    if isinstance(state, np.generic):
        return state.item()
    return state


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def edit_metadata(path: Path, edit: Any) -> None:
    members = read_members(path)
    metadata = json.loads(members["metadata.json"])
    edit(metadata)
    members["metadata.json"] = json.dumps(metadata).encode()
    write_members(path, members)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.bigfit"
    save_model(path, estimator="tests.Dummy", params={"alpha": 0.5},
               state={"coef": np.arange(4.0), "classes": ["no", "yes"]}, metrics={"loss": 0.1})
    return path


# -- round trips ---------------------------------------------------------------------------


def test_nested_state_round_trips_exactly(tmp_path: Path) -> None:
    state = nested_state()
    path = tmp_path / "model.bigfit"
    save_model(path, estimator="tests.Dummy", params={"alpha": 0.5, "init": np.eye(2)},
               state=state, metrics={"auc": 0.75, "confusion": np.array([[3, 1], [0, 4]])})
    model = load_model(path)
    assert_states_equal(model.state, plain(state))
    assert_states_equal(model.params, {"alpha": 0.5, "init": np.eye(2)})
    assert_states_equal(model.metrics, {"auc": 0.75, "confusion": np.array([[3, 1], [0, 4]])})
    assert model.state["fortran"].flags.f_contiguous
    assert model.state["big_endian"].dtype.str == ">i4"
    assert model.state["coef"].flags.writeable
    assert model.estimator == "tests.Dummy"


def test_metadata_describes_the_file(saved: Path) -> None:
    members = read_members(saved)
    assert set(members) == {"metadata.json", "arrays/state.coef.npy"}
    metadata = json.loads(members["metadata.json"])
    assert metadata["format"] == "bigfit-model"
    assert metadata["format_version"] == 1
    assert metadata["bigfit_version"] == model_file.__version__
    assert metadata["created"].endswith("+00:00")
    assert metadata["estimator"] == "tests.Dummy"
    assert metadata["params"] == {"alpha": 0.5}
    assert metadata["state"] == {"coef": {"__array__": "state.coef"}, "classes": ["no", "yes"]}
    assert metadata["metrics"] == {"loss": 0.1}
    assert metadata["arrays"]["state.coef"]["dtype"] == "<f8"
    assert metadata["arrays"]["state.coef"]["shape"] == [4]
    assert len(metadata["arrays"]["state.coef"]["sha256"]) == 64


def test_feature_transformer_state_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    hashes = (rng.integers(1, 6, size=(200, 2)) * 7919).astype(np.uint64)
    batch = Batch(X=X, hashes=hashes)
    transformer = FeatureTransformer(categorical="onehot").fit(batch)
    save_model(tmp_path / "ft.bigfit", estimator="tests.Dummy", params={},
               state={"transformer": transformer.get_state()})
    state = load_model(tmp_path / "ft.bigfit").state["transformer"]
    assert_states_equal(state, transformer.get_state())
    again = FeatureTransformer.from_state(state)
    np.testing.assert_array_equal(again.transform(batch, copy=True).codes,
                                  transformer.transform(batch, copy=True).codes)


def test_flatten_and_unflatten_are_inverse() -> None:
    state = nested_state()
    json_state, arrays = flatten_state(state, prefix="state")
    json.dumps(json_state)  # plain JSON
    assert json_state["coef"] == {"__array__": "state.coef"}
    assert json_state["odd key/with spaces"]["deep"]["deeper"] == {
        "__array__": "state.odd_key_with_spaces.deep.deeper"}
    assert_states_equal(unflatten_state(json_state, arrays), plain(state))


def test_clashing_array_names_get_a_suffix() -> None:
    state = {"a_b": np.zeros(1), "a.b": np.ones(1), "a b": np.full(1, 2.0)}
    json_state, arrays = flatten_state(state)
    assert list(arrays) == ["a_b", "a_b~1", "a_b~2"]
    assert_states_equal(unflatten_state(json_state, arrays), state)


@pytest.mark.parametrize(("state", "match"), [
    ({"labels": np.array(["a", "b"], dtype=object)}, r"'state\.labels'.*dtype object"),
    ({"text": np.array(["a", "b"])}, r"'state\.text'.*dtype <U1"),
    ({"when": np.array(["2024-01-01"], dtype="datetime64[D]")}, r"'state\.when'.*datetime64"),
    ({"nested": [{"f": len}]}, r"'state\.nested\.0\.f'.*builtin_function_or_method"),
    ({"keys": {1: 2}}, r"'state\.keys'.*key 1"),
    ({"ref": {"__array__": "x"}}, r"'state\.ref'.*'__array__'"),
])
def test_unsavable_values_are_refused_by_path(tmp_path: Path, state: dict, match: str) -> None:
    path = tmp_path / "model.bigfit"
    with pytest.raises(InvalidParameterError, match=match):
        save_model(path, estimator="tests.Dummy", params={}, state=state)
    assert list(tmp_path.iterdir()) == []


def test_deflated_members_and_file_urls_load(saved: Path) -> None:
    members = read_members(saved)
    with zipfile.ZipFile(saved, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert_states_equal(load_model(f"file://{saved}").state["coef"], np.arange(4.0))


def test_zip64_members_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_file, "_ZIP64_FROM", 0)  # as for arrays over 1 GiB
    save_model(tmp_path / "m.bigfit", estimator="tests.Dummy", params={},
               state={"coef": np.arange(5, dtype=np.int16)})
    assert_states_equal(load_model(tmp_path / "m.bigfit").state["coef"],
                        np.arange(5, dtype=np.int16))


# -- atomicity -----------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_failed_save_keeps_old_file_and_leaves_no_temp(saved: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    before = saved.read_bytes()
    write_array = model_file._write_array

    def fail_on_second(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> dict:
        if name != "state.first":
            raise Boom
        return write_array(archive, name, array)

    monkeypatch.setattr(model_file, "_write_array", fail_on_second)
    with pytest.raises(Boom):
        save_model(saved, estimator="tests.Dummy", params={},
                   state={"first": np.zeros(10), "second": np.ones(10)})
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["model.bigfit"]
    assert_states_equal(load_model(saved).state["coef"], np.arange(4.0))


# -- refused files -------------------------------------------------------------------------


def test_flipped_byte_in_an_array_is_refused(saved: Path) -> None:
    data = bytearray(saved.read_bytes())
    at = data.index(np.arange(4.0).tobytes()) + 9
    data[at] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"'arrays/state\.coef\.npy'.*damaged or modified"):
        load_model(saved)


def test_member_rewritten_with_valid_zip_crc_fails_the_sha256(saved: Path) -> None:
    members = read_members(saved)
    buffer = io.BytesIO()
    np.save(buffer, np.array([0.0, 1.0, 2.0, 99.0]))
    members["arrays/state.coef.npy"] = buffer.getvalue()
    write_members(saved, members)
    with pytest.raises(ModelFileError, match=r"'arrays/state\.coef\.npy' does not match"):
        load_model(saved)


def test_tampered_sha256_in_metadata_is_refused(saved: Path) -> None:
    def edit(metadata: dict) -> None:
        metadata["arrays"]["state.coef"]["sha256"] = "0" * 64

    edit_metadata(saved, edit)
    with pytest.raises(ModelFileError, match=r"'arrays/state\.coef\.npy' does not match"):
        load_model(saved)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda m: m["arrays"]["state.coef"].update(shape=[5]), r"header says <f8 \(4,\)"),
    (lambda m: m["arrays"]["state.coef"].update(dtype="<f4"), r"header says <f8"),
    (lambda m: m["arrays"]["state.coef"].update(dtype="<U8"), "only bool and numeric"),
    (lambda m: m["arrays"]["state.coef"].update(shape=[-1]), "invalid shape"),
    (lambda m: m["arrays"].pop("state.coef"), "does not list.*arrays/state.coef.npy"),
    (lambda m: m["arrays"].update({"../evil": m["arrays"]["state.coef"]}),
     "'../evil'.*not a valid array name"),
    (lambda m: m["state"].update(coef={"__array__": "nowhere"}), "array 'nowhere'"),
    (lambda m: m.pop("state"), "no 'state' object"),
    (lambda m: m.pop("estimator"), "names no estimator"),
])
def test_inconsistent_metadata_is_refused(saved: Path, edit: Any, match: str) -> None:
    edit_metadata(saved, edit)
    with pytest.raises(ModelFileError, match=match):
        load_model(saved)


def test_member_larger_than_its_manifest_entry_is_refused(saved: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(100_000))
    data = buffer.getvalue()
    members = read_members(saved)
    members["arrays/state.coef.npy"] = data
    metadata = json.loads(members["metadata.json"])
    metadata["arrays"]["state.coef"]["sha256"] = hashlib.sha256(data).hexdigest()
    members["metadata.json"] = json.dumps(metadata).encode()
    write_members(saved, members)
    with pytest.raises(ModelFileError, match="larger than its manifest entry allows"):
        load_model(saved)


def test_member_outside_the_manifest_is_refused(saved: Path) -> None:
    members = read_members(saved)
    members["payload.py"] = b"print('hello')"
    write_members(saved, members)
    with pytest.raises(ModelFileError, match=r"does not list: \['payload.py'\]"):
        load_model(saved)


def test_missing_member_is_refused(saved: Path) -> None:
    members = read_members(saved)
    del members["arrays/state.coef.npy"]
    write_members(saved, members)
    with pytest.raises(ModelFileError, match=r"lacks members.*arrays/state\.coef\.npy"):
        load_model(saved)


def test_foreign_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.bigfit"
    write_members(path, {"hello.txt": b"hi"})
    with pytest.raises(ModelFileError, match=r"without metadata\.json: it was not written"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04truncated"])
def test_not_a_zip_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.bigfit"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=f"{path.name}.*is not a zip archive") as caught:
        load_model(path)
    assert isinstance(caught.value, BigfitError)
    assert isinstance(caught.value, ValueError)


def test_truncated_file_is_refused(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes()[:-40])
    with pytest.raises(ModelFileError):
        load_model(saved)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_model(tmp_path / "nothing.bigfit")
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)


def test_newer_format_version_asks_to_upgrade(saved: Path) -> None:
    edit_metadata(saved, lambda m: m.update(format_version=2, bigfit_version="9.0.0"))
    with pytest.raises(FormatVersionError,
                       match=r"bigfit 9\.0\.0 in format version 2.*pip install --upgrade"):
        load_model(saved)


@pytest.mark.parametrize("version", [0, "1", None, True])
def test_unknown_format_version_is_refused(saved: Path, version: Any) -> None:
    edit_metadata(saved, lambda m: m.update(format_version=version))
    with pytest.raises(FormatVersionError, match="unknown format version"):
        load_model(saved)


def test_other_format_is_refused(saved: Path) -> None:
    edit_metadata(saved, lambda m: m.update(format="bigfit-checkpoint"))
    with pytest.raises(ModelFileError, match="is a bigfit checkpoint; expected a model file"):
        load_model(saved)
    edit_metadata(saved, lambda m: m.update(format="something-else"))
    with pytest.raises(ModelFileError, match="of format 'something-else', not a bigfit file"):
        load_model(saved)


# -- pickles are never loaded --------------------------------------------------------------

UNPICKLED: list[str] = []


def mark_unpickled() -> str:
    UNPICKLED.append("ran")
    return "ran"


class Payload:
    def __reduce__(self) -> tuple:
        return mark_unpickled, ()


def pickle_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def test_the_payload_would_run_if_unpickled() -> None:
    UNPICKLED.clear()
    np.load(io.BytesIO(pickle_npy()), allow_pickle=True)
    assert UNPICKLED == ["ran"]
    UNPICKLED.clear()


def test_pickled_npy_is_refused_when_the_manifest_says_object(saved: Path) -> None:
    UNPICKLED.clear()
    data = pickle_npy()
    members = read_members(saved)
    members["arrays/state.coef.npy"] = data
    metadata = json.loads(members["metadata.json"])
    metadata["arrays"]["state.coef"] = {"sha256": hashlib.sha256(data).hexdigest(),
                                        "dtype": "|O", "shape": [1]}
    members["metadata.json"] = json.dumps(metadata).encode()
    write_members(saved, members)
    with pytest.raises(ModelFileError, match=r"dtype '\|O': only bool and numeric"):
        load_model(saved)
    assert UNPICKLED == []


def test_pickled_npy_is_refused_when_the_manifest_lies(saved: Path) -> None:
    UNPICKLED.clear()
    data = pickle_npy()
    members = read_members(saved)
    members["arrays/state.coef.npy"] = data
    metadata = json.loads(members["metadata.json"])
    metadata["arrays"]["state.coef"].update(sha256=hashlib.sha256(data).hexdigest(), shape=[1])
    members["metadata.json"] = json.dumps(metadata).encode()
    write_members(saved, members)
    with pytest.raises(ModelFileError, match=r"not a plain \.npy array.*header says \|O"):
        load_model(saved)
    assert UNPICKLED == []


# -- URLs ----------------------------------------------------------------------------------


@pytest.fixture
def memory_url() -> Any:
    root = f"memory://bigfit-test-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_round_trip_through_memory_url(memory_url: str) -> None:
    url = f"{memory_url}/models/model.bigfit"
    state = nested_state()
    save_model(url, estimator="tests.Dummy", params={"alpha": 1.0}, state=state)
    assert_states_equal(load_model(url).state, plain(state))
    with pytest.raises(DataNotFoundError):
        load_model(f"{memory_url}/models/other.bigfit")


def test_failed_save_to_url_writes_nothing(memory_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> dict:
        raise Boom

    monkeypatch.setattr(model_file, "_write_array", fail)
    url = f"{memory_url}/model.bigfit"
    with pytest.raises(Boom):
        save_model(url, estimator="tests.Dummy", params={}, state={"coef": np.zeros(3)})
    assert not fsspec.filesystem("memory").exists(url)


# -- registry ------------------------------------------------------------------------------


def test_registry_save_and_load_round_trip(tmp_path: Path, memory_url: str) -> None:
    for target in (tmp_path / "dummy.bigfit", f"{memory_url}/dummy.bigfit"):
        registry.save(fitted_dummy(), target)
        loaded = registry.load(target)
        assert isinstance(loaded, Dummy)
        assert loaded.alpha == 0.5
        assert loaded.classes_ == ["no", "yes"]
        assert_states_equal(loaded.coef_, fitted_dummy().coef_)
        assert load_model(target).metrics == {"loss": 0.25}


def test_unknown_estimator_name_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(UnknownEstimatorError, match=r"Unknown estimator 'Nope'.*'tests\.Dummy'"):
        estimator_class("Nope")
    path = tmp_path / "model.bigfit"
    save_model(path, estimator="Nope", params={}, state={})
    with pytest.raises(UnknownEstimatorError,
                       match=r"model\.bigfit.*does not know.*Known estimators:.*'tests\.Dummy'"):
        registry.load(path)


def test_unregistered_class_cannot_be_saved(tmp_path: Path) -> None:
    class Sub(Dummy):
        pass

    estimator = Sub()
    estimator.coef_, estimator.classes_ = np.zeros(1), []
    with pytest.raises(UnknownEstimatorError, match="Sub is not a registered estimator"):
        registry.save(estimator, tmp_path / "sub.bigfit")
    assert list(tmp_path.iterdir()) == []


def test_registration_rules() -> None:
    assert "tests.Dummy" in registered_estimators()
    assert estimator_class("tests.Dummy") is Dummy
    assert register_estimator("tests.Dummy")(Dummy) is Dummy  # the same class again

    class Other(Dummy):
        pass

    with pytest.raises(InvalidParameterError, match="already registered for"):
        register_estimator("tests.Dummy")(Other)
    with pytest.raises(InvalidParameterError, match=r"already registered as 'tests\.Dummy'"):
        register_estimator("tests.Dummy2")(Dummy)
    with pytest.raises(InvalidParameterError, match="lacks"):
        register_estimator("tests.NoHooks")(type("NoHooks", (), {}))
    with pytest.raises(InvalidParameterError, match="identifier"):
        register_estimator("no spaces")


def test_builtin_estimators_are_imported_on_first_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._BUILTIN, "tests.Lazy", ("tests.io._no_such_module", "torch"))
    assert "tests.Lazy" in registered_estimators()
    with pytest.raises(MissingDependencyError, match=r"pip install 'bigfit\[torch\]'"):
        estimator_class("tests.Lazy")
