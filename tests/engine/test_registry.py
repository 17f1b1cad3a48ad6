"""Engine names and URLs: lookup, bad specs, install hints."""

from __future__ import annotations

import pytest

from bigfit.engine import LocalEngine, available_engines, get_engine, register_engine, registry
from bigfit.engine.local import available_cores
from bigfit.exceptions import (
    EngineError,
    InvalidParameterError,
    MissingDependencyError,
    UnknownEngineError,
)


@pytest.fixture
def fake_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register engines whose modules cannot be imported, for this test only."""
    monkeypatch.setattr(registry, "_ENGINES", dict(registry._ENGINES))
    register_engine("fakeray", "bigfit_no_such_module.ray:RayEngine", extra="ray")
    register_engine("fakeray://", "bigfit_no_such_module.ray:RayEngine", extra="ray")


def test_default_and_local_run_in_process() -> None:
    for spec in (None, "local", " local "):
        engine = get_engine(spec)
        assert isinstance(engine, LocalEngine)
        assert engine.workers == 1
        assert repr(engine) == "LocalEngine()"


def test_worker_counts() -> None:
    assert get_engine("local[3]").workers == 3
    assert get_engine("local[1]").workers == 1
    assert repr(get_engine("local[1]")) == "LocalEngine(workers=1)"  # a pool, not in-process
    assert get_engine("local[*]").workers == available_cores()


def test_an_engine_is_returned_as_is() -> None:
    engine = LocalEngine(2)
    assert get_engine(engine) is engine


@pytest.mark.parametrize("spec", ["local[0]", "local[x]", "local[]", "local[-1]", "local[1.5]"])
def test_bad_worker_counts_say_what_is_allowed(spec: str) -> None:
    with pytest.raises(InvalidParameterError, match=r"integer >= 1 or '\*'") as info:
        get_engine(spec)
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize("spec", ["dask", "sparkle://host", "localhost", ""])
def test_unknown_engines_list_the_known_forms(spec: str) -> None:
    with pytest.raises(UnknownEngineError) as info:
        get_engine(spec)
    message = str(info.value)
    assert repr(spec) in message
    for form in ("'local'", "'local[N]'", "'local[*]'"):
        assert form in message


def test_malformed_local_spec() -> None:
    with pytest.raises(UnknownEngineError, match="'local', 'local\\[N\\]' or 'local\\[\\*\\]'"):
        get_engine("local[2")


def test_a_spec_must_be_a_string_or_an_engine() -> None:
    with pytest.raises(InvalidParameterError, match="Got 4"):
        get_engine(4)  # type: ignore[arg-type]


def test_missing_extra_gives_the_pip_command(fake_entries: None) -> None:
    for spec in ("fakeray", "fakeray://head:10001"):
        with pytest.raises(MissingDependencyError, match=r"pip install 'bigfit\[ray\]'") as info:
            get_engine(spec)
        assert isinstance(info.value, ImportError)
        assert isinstance(info.value.__cause__, ImportError)


def test_unknown_message_lists_registered_forms(fake_entries: None) -> None:
    with pytest.raises(UnknownEngineError, match="'fakeray', 'fakeray://host:port'"):
        get_engine("nope")


def test_available_engines(fake_entries: None) -> None:
    rows = {name: (available, hint) for name, available, hint in available_engines()}
    assert rows["local"] == (True, "local, local[N], local[*]")
    assert rows["fakeray"] == (False, "pip install 'bigfit[ray]'")
    assert rows["fakeray://"] == (False, "pip install 'bigfit[ray]'")


def test_longest_prefix_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_ENGINES", dict(registry._ENGINES))
    register_engine("fake", "bigfit_no_such_module:Engine", extra="fake")
    register_engine("fake://", "bigfit.engine.local:LocalEngine")
    with pytest.raises(UnknownEngineError, match="Cannot read 'fake://x' as a local engine"):
        get_engine("fake://x")  # reached LocalEngine.from_spec, not the 'fake' entry


def test_target_must_be_an_engine_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_ENGINES", dict(registry._ENGINES))
    register_engine("combine", "bigfit.engine.base:tree_combine")
    with pytest.raises(EngineError, match="is not an Engine class"):
        get_engine("combine")


@pytest.mark.parametrize(
    ("prefix", "target"),
    [("Ray", "m:C"), ("ray:/", "m:C"), ("", "m:C"), ("ray", "module.Class"), ("ray", "m:")],
)
def test_bad_registrations(prefix: str, target: str) -> None:
    with pytest.raises(InvalidParameterError):
        register_engine(prefix, target)


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"workers": 2.0}, {"workers": True},
                                    {"max_retries": -1}, {"max_retries": None}])
def test_local_engine_validates_its_parameters(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError, match="parameter of LocalEngine"):
        LocalEngine(**kwargs)
