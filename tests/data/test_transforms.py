"""FeatureTransformer against numpy and scikit-learn on the same data."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from bigfit.data._hashing import mix64
from bigfit.data.batch import Batch
from bigfit.data.transforms import FeatureTransformer
from bigfit.data.transforms._fit_stats import collect_shard
from bigfit.engine.base import Engine
from bigfit.exceptions import (
    DataError,
    EmptyDatasetError,
    InvalidParameterError,
    NotFittedError,
    SchemaError,
)
from tests.conftest import assert_states_equal

# -- stand-ins for the Dataset API and an engine -------------------------------------------


class ListShard:
    def __init__(self, batches: list[Batch]) -> None:
        self._batches = batches

    def batches(self, batch_size: int | None = None) -> Iterator[Batch]:
        # Fresh arrays each time, as a reader decoding a file would give.
        for b in self._batches:
            yield b.replace(X=b.X.copy())


class ListDataset:
    """Shards given as lists of batches; ``shards(n)`` ignores ``n``."""

    def __init__(self, shards: list[list[Batch]], numeric: Sequence[str],
                 categorical: Sequence[str] = ()) -> None:
        self._shards = shards
        self.numeric_features = list(numeric)
        self.categorical_features = list(categorical)

    def shards(self, n: int | None = None) -> list[ListShard]:
        return [ListShard(s) for s in self._shards]


class InProcessEngine(Engine):
    name = "test"

    def __init__(self) -> None:
        self.calls = 0

    @property
    def workers(self) -> int:
        return 2

    def map(self, fn, items, *, on_result=None):
        self.calls += 1
        return [fn(item) for item in items]


def make_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Numeric X with NaNs, a constant and a shifted column; hashes of skewed categories."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.normal(5.0, 2.0, n),
        rng.exponential(3.0, n),
        np.full(n, 7.0),
        1e4 + rng.normal(0.0, 0.5, n),
    ]).astype(np.float32)
    X[rng.random(X.shape) < 0.1] = np.nan
    categories = rng.zipf(1.5, size=(n, 2)) % 40
    hashes = mix64(categories.astype(np.uint64), seed=9) | np.uint64(1)
    hashes[rng.random(hashes.shape) < 0.05] = 0
    return X, hashes


def as_batches(X: np.ndarray, hashes: np.ndarray | None, parts: int) -> list[Batch]:
    return [Batch(X=np.ascontiguousarray(x), hashes=h)
            for x, h in zip(np.array_split(X, parts),
                            np.array_split(hashes, parts) if hashes is not None
                            else [None] * parts, strict=True)]


def dataset(X, hashes, shards: int = 3, batches: int = 2) -> ListDataset:
    parts = as_batches(X, hashes, shards * batches)
    return ListDataset([parts[i * batches:(i + 1) * batches] for i in range(shards)],
                       [f"num{i}" for i in range(X.shape[1])],
                       [f"cat{j}" for j in range(0 if hashes is None else hashes.shape[1])])


# -- numeric columns ---------------------------------------------------------------------

def test_matches_scikit_learn_mean_imputer_and_scaler():
    X, hashes = make_data()
    ft = FeatureTransformer().fit(dataset(X, hashes), engine=InProcessEngine())
    out = ft.transform(Batch(X=X.copy(), hashes=hashes))

    x = X.astype(np.float64)
    scaler = StandardScaler().fit(x)  # ignores NaN, like bigfit
    expected = scaler.transform(SimpleImputer(strategy="mean").fit_transform(x))
    np.testing.assert_allclose(ft.mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(ft.var_, scaler.var_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ft.scale_, scaler.scale_, rtol=1e-9)
    assert out.X.dtype == np.float32 and out.X.flags.c_contiguous
    np.testing.assert_allclose(out.X, expected, rtol=1e-5, atol=2e-5)
    assert ft.n_samples_seen_ == len(X)
    assert ft.feature_names_in_ == ["num0", "num1", "num2", "num3"]
    assert ft.categorical_features_in_ == ["cat0", "cat1"]


def test_constant_imputation_without_scaling_matches_simple_imputer():
    X, _ = make_data()
    ft = FeatureTransformer(standardize=False, impute="constant", fill_value=-1.5)
    out = ft.fit([Batch(X=X)]).transform(Batch(X=X), copy=True)
    expected = SimpleImputer(strategy="constant", fill_value=-1.5).fit_transform(X)
    np.testing.assert_array_equal(out.X, expected.astype(np.float32))
    assert out.codes is None


def test_constant_and_empty_columns_do_not_blow_up():
    X = np.array([[3.0, np.nan], [3.0, np.nan], [3.0, np.nan]], dtype=np.float32)
    ft = FeatureTransformer(fill_value=4.0).fit(Batch(X=X))
    np.testing.assert_array_equal(ft.scale_, [1.0, 1.0])
    np.testing.assert_array_equal(ft.transform(Batch(X=X.copy())).X, [[0.0, 4.0]] * 3)


@pytest.mark.parametrize("layout", [(1, 1), (1, 5), (4, 1), (3, 4)])
def test_any_sharding_gives_the_same_fit(layout):
    X, hashes = make_data(seed=1)
    reference = FeatureTransformer(categorical="onehot").fit([Batch(X=X, hashes=hashes)])
    ft = FeatureTransformer(categorical="onehot").fit(
        dataset(X, hashes, *layout), engine=InProcessEngine())
    np.testing.assert_allclose(ft.mean_, reference.mean_, rtol=1e-13)
    np.testing.assert_allclose(ft.scale_, reference.scale_, rtol=1e-12)
    for mine, theirs in zip(ft.encoder_.vocabularies, reference.encoder_.vocabularies,
                            strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_partial_fit_equals_fit_on_the_stream():
    X, hashes = make_data(seed=2)
    batches = as_batches(X, hashes, 7)
    streamed = FeatureTransformer(categorical="onehot")
    for batch in batches:
        streamed.partial_fit(batch)
    once = FeatureTransformer(categorical="onehot").fit(iter(batches))
    assert_states_equal(streamed.get_state(), once.get_state())


def test_transform_works_in_place_only_on_owned_writable_arrays():
    X, _ = make_data(n=50)
    ft = FeatureTransformer().fit(Batch(X=X))

    owned = X.copy()
    assert ft.transform(Batch(X=owned)).X is owned

    for foreign in (X[10:], _read_only(X.copy())):
        before = foreign.copy()
        out = ft.transform(Batch(X=foreign)).X
        assert not np.shares_memory(out, foreign)
        np.testing.assert_array_equal(foreign, before)

    kept = X.copy()
    assert ft.transform(Batch(X=kept), copy=True).X is not kept
    np.testing.assert_array_equal(kept, X)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def test_float64_input_is_converted_once():
    X, _ = make_data(n=50)
    ft = FeatureTransformer().fit(Batch(X=X))
    out = ft.transform(Batch(X=X.astype(np.float64)))
    assert out.X.dtype == np.float32
    np.testing.assert_allclose(out.X, ft.transform(Batch(X=X.copy())).X, rtol=1e-6, atol=1e-6)


# -- categorical columns -----------------------------------------------------------------

def test_hashing_is_reproducible_for_a_seed_and_differs_for_another():
    X, hashes = make_data()
    batch = Batch(X=X, hashes=hashes)
    codes = [FeatureTransformer(n_buckets=64, seed=s).fit(batch).transform(batch, copy=True).codes
             for s in (0, 0, 1)]
    np.testing.assert_array_equal(codes[0], codes[1])
    assert (codes[0] != codes[2]).any()
    assert codes[0].dtype == np.int32 and codes[0].shape == hashes.shape

    block = 64 + 1
    local = codes[0] - np.arange(2) * block
    assert ((local >= 0) & (local <= 64)).all()
    np.testing.assert_array_equal(local == 64, hashes == 0)  # missing: the last code of a block
    expected = (mix64(hashes, 0) % np.uint64(64)).astype(np.int64)
    np.testing.assert_array_equal(local[hashes != 0], expected[hashes != 0])


def _splitmix64(value: int, seed: int) -> int:
    """The splitmix64 finaliser of ``value + seed``, one value at a time in Python ints."""
    mask = (1 << 64) - 1
    z = (value + (seed & mask) * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


@pytest.mark.parametrize("shape", [(0,), (7,), (8192,), (20_001,), (9_000, 3)])
def test_mix64_equals_splitmix64(shape):
    values = np.random.default_rng(5).integers(0, 2**63, size=shape, dtype=np.uint64)
    before = values.copy()
    for seed in (0, -1):
        mixed = mix64(values, seed)
        assert mixed.shape == values.shape and mixed.dtype == np.uint64
        expected = [_splitmix64(int(v), seed) for v in values.reshape(-1)]
        assert mixed.reshape(-1).tolist() == expected
    np.testing.assert_array_equal(values, before)  # the input is left alone
    if values.ndim == 2:  # any memory layout
        np.testing.assert_array_equal(mix64(np.asfortranarray(values), 3), mix64(values, 3))


def test_hash_codes_of_many_rows_with_missing_values():
    hashes = np.random.default_rng(6).integers(1, 2**63, size=(50_000, 3), dtype=np.uint64)
    hashes[::11, 1] = 0
    hashes[::13, 2] = 0
    X = np.zeros((len(hashes), 1), dtype=np.float32)
    ft = FeatureTransformer(n_buckets=1000, seed=4).fit(Batch(X=X, hashes=hashes))
    codes = ft.transform(Batch(X=X, hashes=hashes), copy=True).codes
    expected = (mix64(hashes, 4) % np.uint64(1000)).astype(np.int64)
    expected[hashes == 0] = 1000
    np.testing.assert_array_equal(codes, expected + np.arange(3) * 1001)


def test_hashing_with_any_bucket_count():
    X, hashes = make_data(n=200)
    ft = FeatureTransformer(n_buckets=10).fit(Batch(X=X, hashes=hashes))
    codes = ft.transform(Batch(X=X, hashes=hashes), copy=True).codes
    assert ft.n_codes == 22 and codes.max() < 22
    names = ft.feature_names_out
    assert len(names) == 4 + 22 and names[4] == "c0#0" and names[-1] == "c1#<missing>"


def test_onehot_vocabulary_is_top_k_plus_other_and_missing():
    values = [1] * 5 + [2] * 4 + [3] * 3 + [4] * 2 + [0] * 2  # 0 = missing
    hashes = np.array(values, dtype=np.uint64).reshape(-1, 1)
    X = np.zeros((len(values), 1), dtype=np.float32)
    ft = FeatureTransformer(categorical="onehot", max_categories=2).fit(Batch(X=X, hashes=hashes))

    np.testing.assert_array_equal(ft.encoder_.vocabularies[0], [1, 2])
    assert ft.n_codes == 4
    new = np.array([[1], [2], [3], [0], [99]], dtype=np.uint64)
    codes = ft.transform(Batch(X=np.zeros((5, 1), np.float32), hashes=new)).codes
    np.testing.assert_array_equal(codes.ravel(), [0, 1, 2, 3, 2])  # 3 and unseen 99: other
    assert ft.feature_names_out == ["x0", "c0=#0000000000000001", "c0=#0000000000000002",
                                    "c0=<other>", "c0=<missing>"]


def test_onehot_codes_share_one_index_space():
    X, hashes = make_data()
    ft = FeatureTransformer(categorical="onehot", max_categories=5).fit(Batch(X=X, hashes=hashes))
    codes = ft.transform(Batch(X=X, hashes=hashes), copy=True).codes
    sizes = [len(v) + 2 for v in ft.encoder_.vocabularies]
    assert ft.n_codes == sum(sizes) == 14
    assert (codes[:, 0] < sizes[0]).all() and (codes[:, 1] >= sizes[0]).all()
    assert codes.max() < ft.n_codes
    # the most frequent value of each column is in its vocabulary
    for j, vocabulary in enumerate(ft.encoder_.vocabularies):
        present = hashes[hashes[:, j] != 0, j]
        values, counts = np.unique(present, return_counts=True)
        assert values[np.argmax(counts)] in vocabulary


def test_categorical_column_with_no_value_gets_only_other_and_missing():
    hashes = np.zeros((3, 1), dtype=np.uint64)
    X = np.zeros((3, 1), dtype=np.float32)
    ft = FeatureTransformer(categorical="onehot").fit(Batch(X=X, hashes=hashes))
    seen = np.array([[0], [5]], dtype=np.uint64)
    codes = ft.transform(Batch(X=np.zeros((2, 1), np.float32), hashes=seen)).codes
    assert ft.n_codes == 2
    np.testing.assert_array_equal(codes.ravel(), [1, 0])


# -- state ---------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {}, {"categorical": "onehot", "max_categories": 3},
    {"standardize": False, "impute": "constant", "fill_value": 2.0, "seed": 5, "n_buckets": 7},
])
def test_state_round_trips_exactly(params):
    X, hashes = make_data()
    batches = as_batches(X, hashes, 3)
    ft = FeatureTransformer(**params).fit(batches[:2])
    state = ft.get_state()
    assert_plain_data(state)
    again = FeatureTransformer.from_state(state)
    assert_states_equal(again.get_state(), state)
    assert again.get_params() == ft.get_params()
    for batch in batches:
        mine = ft.transform(batch, copy=True)
        theirs = again.transform(batch, copy=True)
        np.testing.assert_array_equal(mine.X, theirs.X)
        np.testing.assert_array_equal(mine.codes, theirs.codes)
    # and learning goes on from where it stopped
    assert_states_equal(again.partial_fit(batches[2]).get_state(),
                        ft.partial_fit(batches[2]).get_state())


def test_state_of_another_kind_is_refused():
    with pytest.raises(DataError, match="another version of bigfit"):
        FeatureTransformer.from_state({"kind": "FeatureTransformer", "version": 99})


def test_fit_resets_what_was_learned():
    X, hashes = make_data()
    ft = FeatureTransformer().fit(Batch(X=X, hashes=hashes))
    ft.fit(Batch(X=X[:, :2].copy()))
    assert ft.n_features_in_ == 2 and ft.categorical_features_in_ == []
    assert ft.n_samples_seen_ == len(X)


# -- parameters and bad input --------------------------------------------------------------

@pytest.mark.parametrize(("params", "message"), [
    ({"n_buckets": 0}, "The 'n_buckets' parameter of FeatureTransformer must be an int in the "
                       "range [1, inf). Got 0 instead."),
    ({"n_buckets": 2.0}, "The 'n_buckets' parameter of FeatureTransformer must be an int in the "
                         "range [1, inf). Got 2.0 instead."),
    ({"max_categories": True}, "The 'max_categories' parameter of FeatureTransformer must be an "
                               "int in the range [1, inf). Got True instead."),
    ({"impute": "median"}, "The 'impute' parameter of FeatureTransformer must be a str among "
                           "{'constant', 'error', 'mean'}. Got 'median' instead."),
    ({"categorical": None}, "The 'categorical' parameter of FeatureTransformer must be a str "
                            "among {'hash', 'onehot'}. Got None instead."),
    ({"standardize": 1}, "The 'standardize' parameter of FeatureTransformer must be an instance "
                         "of 'bool'. Got 1 instead."),
    ({"fill_value": float("nan")}, "The 'fill_value' parameter of FeatureTransformer must be a "
                                   "float in the range (-inf, inf). Got nan instead."),
    ({"fill_value": float("inf")}, "The 'fill_value' parameter of FeatureTransformer must be a "
                                   "float in the range (-inf, inf). Got inf instead."),
    ({"seed": -1}, "The 'seed' parameter of FeatureTransformer must be an int in the range "
                   "[0, inf). Got -1 instead."),
])
def test_bad_parameters_are_stored_then_refused_by_fit(params, message):
    ft = FeatureTransformer(**params)  # the constructor only stores
    batch = Batch(X=np.zeros((2, 1), np.float32))
    with pytest.raises(InvalidParameterError) as error:
        ft.fit(batch)
    assert str(error.value) == message
    with pytest.raises(InvalidParameterError):
        FeatureTransformer(**params).partial_fit(batch)


def test_params_api():
    ft = FeatureTransformer(categorical="onehot")
    assert ft.get_params()["categorical"] == "onehot"
    assert repr(ft.set_params(seed=3)) == "FeatureTransformer(categorical='onehot', seed=3)"
    with pytest.raises(InvalidParameterError, match="no parameter"):
        ft.set_params(alpha=1.0)
    with pytest.raises(TypeError):
        FeatureTransformer(True)  # keyword-only


def test_too_many_hash_codes_for_int32_are_refused():
    batch = Batch(X=np.zeros((1, 1), np.float32), hashes=np.ones((1, 3), np.uint64))
    with pytest.raises(InvalidParameterError, match="n_buckets=1073741824 with 3 categorical "
                                                    "columns needs up to 3221225475 codes"):
        FeatureTransformer(n_buckets=2**30).fit(batch)
    with pytest.raises(InvalidParameterError, match="lower max_categories"):
        FeatureTransformer(categorical="onehot", max_categories=2**30).fit(batch)


def test_impute_error_names_the_column_and_the_count():
    X, _ = make_data(n=40)
    clean = np.nan_to_num(X)
    ft = FeatureTransformer(impute="error").fit(dataset(clean, None), engine=InProcessEngine())
    bad = clean.copy()
    bad[[0, 3, 5], 1] = np.nan
    with pytest.raises(DataError, match=r"'num1' \(3 NaN\).*impute='mean'"):
        ft.transform(Batch(X=bad))
    with pytest.raises(DataError, match=r"in the data given to fit: 'num0' \(\d+ NaN\)"):
        FeatureTransformer(impute="error").fit(dataset(X, None), engine=InProcessEngine())
    streamed = FeatureTransformer(impute="error").partial_fit(Batch(X=clean))
    with pytest.raises(DataError, match=r"'x1' \(3 NaN\)"):
        streamed.partial_fit(Batch(X=bad))
    assert streamed.n_samples_seen_ == 40  # the refused batch was not counted


def test_transform_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match=r"not fitted yet; call fit\(data\)"):
        FeatureTransformer().transform(Batch(X=np.zeros((1, 1), np.float32)))
    with pytest.raises(NotFittedError, match="not fitted"):
        FeatureTransformer().n_codes  # noqa: B018


def test_wrong_columns_name_expected_and_got():
    X, hashes = make_data(n=20)
    ft = FeatureTransformer().fit(dataset(X, hashes), engine=InProcessEngine())
    with pytest.raises(SchemaError, match=r"fitted on 4 numeric columns \['num0', 'num1', "
                                          r"'num2', 'num3'\]; this batch has 3"):
        ft.transform(Batch(X=X[:, :3].copy(), hashes=hashes))
    with pytest.raises(SchemaError, match=r"fitted on 2 categorical columns \['cat0', 'cat1'\]; "
                                          r"this batch has 0"):
        ft.transform(Batch(X=X))
    with pytest.raises(SchemaError, match="has 3"):
        ft.partial_fit(Batch(X=X[:, :3].copy(), hashes=hashes))


def test_hashes_that_are_not_uint64_are_refused():
    X = np.zeros((2, 1), np.float32)
    with pytest.raises(SchemaError, match="must be a 2-D uint64 array.*got int64"):
        FeatureTransformer().fit(Batch(X=X, hashes=np.ones((2, 1), np.int64)))


def test_shard_statistics_survive_pickling():
    # a process-pool or cluster engine ships the plan and the partial results
    X, hashes = make_data(n=100)
    plan = FeatureTransformer(categorical="onehot")._plan(None)
    shard = dataset(X, hashes).shards()[0]
    partial = pickle.loads(pickle.dumps(collect_shard(shard, pickle.loads(pickle.dumps(plan)))))
    direct = collect_shard(shard, plan)
    assert_states_equal(partial.to_state(), direct.to_state())


def test_batches_of_different_layouts_are_refused_in_fit():
    batches = [Batch(X=np.zeros((2, 2), np.float32)), Batch(X=np.zeros((2, 3), np.float32))]
    with pytest.raises(SchemaError, match="Batches differ in layout"):
        FeatureTransformer().fit(batches)


def test_names_that_do_not_match_the_batches_are_refused():
    X, _ = make_data(n=10)
    data = ListDataset([[Batch(X=X)]], ["only_one"])
    with pytest.raises(SchemaError, match="names 1 numeric"):
        FeatureTransformer().fit(data, engine=InProcessEngine())


def test_empty_data_and_infinite_values_are_refused():
    with pytest.raises(EmptyDatasetError, match="no rows"):
        FeatureTransformer().fit([])
    with pytest.raises(EmptyDatasetError):
        FeatureTransformer().fit(ListDataset([[Batch(X=np.zeros((0, 2), np.float32))]],
                                             ["a", "b"]), engine=InProcessEngine())
    X = np.array([[1.0, 2.0], [np.inf, 3.0]], dtype=np.float32)
    with pytest.raises(DataError, match=r"column 'x0' holds infinite"):
        FeatureTransformer().fit(Batch(X=X))
    ok = FeatureTransformer(standardize=False, impute="constant").fit(Batch(X=X))
    assert ok.transform(Batch(X=X), copy=True).X[1, 0] == np.inf


def test_fit_runs_one_map_reduce_pass_on_the_engine():
    X, hashes = make_data(n=100)
    engine = InProcessEngine()
    FeatureTransformer(categorical="onehot").fit(dataset(X, hashes), engine=engine)
    assert engine.calls == 1


def _has_get_engine() -> bool:
    try:
        from bigfit.engine import get_engine  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_get_engine(), reason="bigfit.engine.get_engine is not there yet")
def test_fit_with_the_default_engine():
    X, hashes = make_data(n=100)
    reference = FeatureTransformer().fit(Batch(X=X, hashes=hashes))
    ft = FeatureTransformer().fit(dataset(X, hashes))
    np.testing.assert_allclose(ft.mean_, reference.mean_, rtol=1e-13)


# -- helpers ---------------------------------------------------------------------------------

def assert_plain_data(state: Any) -> None:
    """Leaves are JSON values or numeric numpy arrays: a model file can store them."""
    def strip(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            assert value.dtype != object
            return None
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        assert value is None or isinstance(value, bool | int | float | str), type(value)
        return value

    json.dumps(strip(state), allow_nan=False)
