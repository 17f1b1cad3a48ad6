"""PCA against scikit-learn's, on every path in: arrays, Parquet datasets, engines, model files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA as SkPCA
from sklearn.preprocessing import StandardScaler

import bigfit
from bigfit import PCA, Dataset
from bigfit.data.synthetic import make_dataset
from bigfit.engine.base import Engine
from bigfit.exceptions import DataError, InvalidParameterError, NotFittedError, SchemaError


class SerialEngine(Engine):
    """Runs tasks in this process but claims ``workers`` workers, so fits cut more shards."""

    name = "serial-test"

    def __init__(self, workers: int) -> None:
        self._workers = workers

    @property
    def workers(self) -> int:
        return self._workers

    def map(self, fn, items, *, on_result=None):
        return [fn(item) for item in items]


def assert_same_axes(ours: np.ndarray, theirs: np.ndarray, atol: float = 1e-6) -> None:
    """Components equal up to the sign of each row."""
    signs = np.sign(np.sum(ours * theirs, axis=1))
    np.testing.assert_allclose(ours * signs[:, None], theirs, atol=atol)


def float32_data(n: int, d: int, seed: int, offset: float = 100.0) -> np.ndarray:
    """Rows with well separated variances (3**j) far from the origin, exact in float32."""
    rng = np.random.default_rng(seed)
    mixing = np.linalg.qr(rng.standard_normal((d, d)))[0]
    X = rng.standard_normal((n, d)) * 3.0 ** np.arange(d)[::-1] @ mixing + offset
    return X.astype(np.float32).astype(np.float64)


def write_parquet(X: np.ndarray, path: Path, row_group_size: int, **extra: np.ndarray) -> str:
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    pq.write_table(pa.table({**columns, **extra}), path, row_group_size=row_group_size)
    return str(path)


def test_iris_explained_variance_ratio() -> None:
    X = load_iris().data
    pca = PCA(n_components=2).fit(X)
    np.testing.assert_allclose(pca.explained_variance_ratio_, [0.9246, 0.0531], atol=5e-5)
    theirs = SkPCA(n_components=2).fit(X)
    assert_same_axes(pca.components_, theirs.components_)
    np.testing.assert_allclose(pca.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(pca.transform(X), theirs.transform(X), atol=1e-5)
    assert pca.solver_ == "covariance" and pca.n_passes_ == 1 and pca.n_samples_ == 150


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(30, 400), d=st.integers(1, 6), seed=st.integers(0, 2**16),
       row_group_size=st.integers(1, 97), batch_size=st.integers(1, 80), workers=st.integers(1, 4),
       share=st.floats(0.01, 1.0), solver=st.sampled_from(["covariance", "randomized"]))
def test_equals_scikit_learn_whatever_batching_and_sharding(n, d, seed, row_group_size, batch_size,
                                                            workers, share, solver) -> None:
    """Randomized too: with d <= 6 its oversampled subspace is the whole space, so it is exact."""
    X = float32_data(n, d, seed)
    k = max(1, round(share * d))
    theirs = SkPCA(n_components=k).fit(X)
    with tempfile.TemporaryDirectory() as root:
        data = Dataset(write_parquet(X, Path(root) / "d.parquet", row_group_size))
        ours = PCA(n_components=k, solver=solver, batch_size=batch_size,
                   engine=SerialEngine(workers)).fit(data)
    assert_same_axes(ours.components_, theirs.components_)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(ours.singular_values_, theirs.singular_values_, rtol=1e-6)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-9)
    np.testing.assert_allclose(ours.noise_variance_, theirs.noise_variance_, rtol=1e-6, atol=1e-9)


def test_randomized_is_close_to_exact_on_low_rank_data() -> None:
    rng = np.random.default_rng(3)
    n, d, rank = 4_000, 300, 6
    X = (rng.standard_normal((n, rank)) * [30, 20, 12, 8, 5, 3]) @ rng.standard_normal((rank, d))
    X = (X + 0.01 * rng.standard_normal((n, d)) + 7.0).astype(np.float32).astype(np.float64)
    exact = PCA(n_components=5, solver="covariance").fit(X)
    fast = PCA(n_components=5, solver="randomized", random_state=0).fit(X)
    assert fast.solver_ == "randomized" and fast.n_passes_ == 2 + 2  # transform pass + q=2 + last
    np.testing.assert_allclose(fast.explained_variance_, exact.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(fast.explained_variance_ratio_, exact.explained_variance_ratio_, rtol=1e-6)
    assert_same_axes(fast.components_, exact.components_, atol=1e-6)
    np.testing.assert_allclose(fast.noise_variance_, exact.noise_variance_, rtol=1e-3)
    theirs = SkPCA(n_components=5).fit(X)
    np.testing.assert_allclose(fast.transform(X), theirs.transform(X) * np.sign(
        np.sum(fast.components_ * theirs.components_, axis=1)), atol=1e-4)


def test_auto_solver_follows_the_width() -> None:
    rng = np.random.default_rng(8)
    wide = (rng.standard_normal((300, 4)) * [9, 5, 3, 2]) @ rng.standard_normal((4, 1_200))
    wide += 0.01 * rng.standard_normal(wide.shape)
    fast = PCA(n_components=3).fit(wide)
    assert fast.solver_ == "randomized" and fast.components_.shape == (3, 1_200)
    theirs = SkPCA(n_components=3).fit(wide.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(fast.explained_variance_, theirs.explained_variance_, rtol=1e-5)
    assert PCA(n_components=0.9).fit(wide).solver_ == "covariance"  # a variance share needs them all
    assert PCA(n_components=3).fit(wide[:, :50]).solver_ == "covariance"
    with pytest.raises(InvalidParameterError, match=r"solver='covariance' needs 4 matrices of 1200 x 1200"):
        PCA(n_components=3, solver="covariance", memory_limit="20MB").fit(wide)


def test_randomized_without_power_iterations_reads_the_data_twice() -> None:
    X = float32_data(2_000, 40, seed=5)
    fast = PCA(n_components=3, solver="randomized", iterated_power=0, n_oversamples=20).fit(X)
    exact = PCA(n_components=3).fit(X)
    assert fast.n_passes_ == 2
    np.testing.assert_allclose(fast.explained_variance_, exact.explained_variance_, rtol=1e-3)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("pca-mixed") / "data"
    make_dataset(out, rows=12_000, kind="classification", n_numeric=6, n_categorical=2,
                 n_levels=[4, 7], missing_fraction=0.02, row_group_size=1_000, seed=4)
    return str(out)


def one_hot_reference(pca: PCA, data: Dataset) -> np.ndarray:
    """The rows PCA analyses, built by hand: imputed numeric columns, then one-hot codes."""
    transformer = pca.transformer_
    rows = []
    for batch in data.batches():
        ready = transformer.transform(batch, scale=False)
        onehot = np.zeros((len(batch), transformer.n_codes))
        for j in range(ready.codes.shape[1]):
            onehot[np.arange(len(batch)), ready.codes[:, j]] = 1.0
        rows.append(np.hstack([ready.X.astype(np.float64), onehot]))
    return np.vstack(rows)


def test_categorical_and_missing_columns_equal_scikit_learn_on_the_encoded_rows(mixed) -> None:
    data = Dataset(mixed, target="y")
    ours = PCA(n_components=4).fit(data)
    encoded = one_hot_reference(ours, data)
    theirs = SkPCA(n_components=4).fit(encoded)
    assert ours.components_.shape == (4, 6 + ours.transformer_.n_codes) and ours.n_passes_ == 2
    assert_same_axes(ours.components_, theirs.components_)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.transform(data), theirs.transform(encoded), atol=1e-6)
    randomized = PCA(n_components=4, solver="randomized", iterated_power=4).fit(data)
    np.testing.assert_allclose(randomized.explained_variance_, theirs.explained_variance_, rtol=1e-4)


def test_missing_values_are_imputed_like_scikit_learn(tmp_path) -> None:
    X = float32_data(3_000, 5, seed=9)
    missing = np.random.default_rng(0).random(X.shape) < 0.05
    holes = np.where(missing, np.nan, X)
    ours = PCA(n_components=3).fit(holes)
    filled = np.where(missing, np.nanmean(holes, axis=0), holes).astype(np.float32).astype(np.float64)
    theirs = SkPCA(n_components=3).fit(filled)
    assert ours.n_passes_ == 3  # the one-pass path met NaN: transform pass, then scatter pass
    assert_same_axes(ours.components_, theirs.components_)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.transform(holes), theirs.transform(filled), atol=1e-5)


def test_standardize_and_whiten_equal_scikit_learn_pipelines() -> None:
    X = float32_data(2_000, 5, seed=1) * [1.0, 10.0, 100.0, 0.1, 5.0]
    X = X.astype(np.float32).astype(np.float64)
    scaled = StandardScaler().fit_transform(X)
    ours = PCA(n_components=3, standardize=True, whiten=True).fit(X)
    theirs = SkPCA(n_components=3, whiten=True).fit(scaled)
    assert_same_axes(ours.components_, theirs.components_)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    scores = ours.transform(X)
    np.testing.assert_allclose(np.abs(scores), np.abs(theirs.transform(scaled)), atol=1e-5)
    np.testing.assert_allclose(scores.var(axis=0, ddof=1), 1.0, rtol=1e-6)
    full = PCA(standardize=True, whiten=True).fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(full.mean_, X.mean(axis=0), rtol=1e-9)


def test_fraction_of_variance_picks_the_number_of_components() -> None:
    X = float32_data(1_000, 6, seed=2)
    ours, theirs = PCA(n_components=0.99).fit(X), SkPCA(n_components=0.99).fit(X)
    assert ours.n_components_ == theirs.n_components_ < 6
    assert ours.get_feature_names_out().tolist() == [f"pca{j}" for j in range(ours.n_components_)]


def test_local_and_local2_give_the_same_model(mixed) -> None:
    data = Dataset(mixed, target="y")
    for params in ({"solver": "covariance"}, {"solver": "randomized", "random_state": 7}):
        one = PCA(n_components=3, engine="local", **params).fit(data)
        two = PCA(n_components=3, engine="local[2]", **params).fit(data)
        np.testing.assert_allclose(two.components_, one.components_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(two.explained_variance_, one.explained_variance_, rtol=1e-9)
        np.testing.assert_allclose(two.mean_, one.mean_, rtol=1e-9)


def test_save_and_load_round_trip(mixed, tmp_path) -> None:
    data = Dataset(mixed, target="y")
    model = PCA(n_components=3, standardize=True, whiten=True).fit(data)
    model.save(str(tmp_path / "pca.bigfit"))
    loaded = bigfit.load(str(tmp_path / "pca.bigfit"))
    assert isinstance(loaded, PCA) and loaded.get_params() == model.get_params()
    for name in ("components_", "explained_variance_", "explained_variance_ratio_", "singular_values_",
                 "mean_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert (loaded.n_samples_, loaded.solver_, loaded.noise_variance_) == (
        model.n_samples_, model.solver_, model.noise_variance_)
    np.testing.assert_array_equal(loaded.transform(data), model.transform(data))


def test_scores_stream_into_a_parquet_dataset(mixed, tmp_path) -> None:
    data = Dataset(mixed, target="y")
    model = PCA(n_components=2).fit(data)
    out = tmp_path / "reduced"
    rows = model.write_transformed(data, str(out), passthrough=["y"], engine="local[2]")
    table = pq.read_table(out)
    assert rows == table.num_rows == 12_000
    assert table.column_names == ["y", "pca0", "pca1"]
    expected = model.transform(data)
    got = np.column_stack([table.column("pca0").to_numpy(), table.column("pca1").to_numpy()])
    order = np.lexsort(expected.T)
    np.testing.assert_allclose(got[np.lexsort(got.T)], expected[order], rtol=1e-12)
    batches = list(model.predict_stream(data, passthrough=["y"]))
    assert sum(len(b["pca0"]) for b in batches) == 12_000 and list(batches[0]) == ["y", "pca0", "pca1"]


def test_fit_on_dataset_equals_fit_on_arrays(tmp_path) -> None:
    X = float32_data(5_000, 4, seed=6)
    from_file = PCA(n_components=2).fit(Dataset(write_parquet(X, tmp_path / "d.parquet", 700)))
    from_arrays = PCA(n_components=2).fit(X)
    np.testing.assert_allclose(from_file.components_, from_arrays.components_, atol=1e-12)
    np.testing.assert_allclose(from_file.transform(X), from_arrays.transform(X), atol=1e-9)


def test_bad_input(tmp_path) -> None:
    X = float32_data(200, 3, seed=0)
    with pytest.raises(InvalidParameterError, match=r"n_components=4 must be at most min\(n_samples, "
                                                    r"n_features\)=3"):
        PCA(n_components=4).fit(X)
    with pytest.raises(InvalidParameterError, match="'n_components' parameter of PCA"):
        PCA(n_components=0).fit(X)
    with pytest.raises(InvalidParameterError, match="only solver='covariance'"):
        PCA(n_components=0.5, solver="randomized").fit(X)
    empty = np.column_stack([X, np.full(200, np.nan)])
    with pytest.raises(DataError, match=r"Column\(s\) \['x3'\] hold no value"):
        PCA(n_components=2).fit(empty)
    constant = np.column_stack([X, np.full(200, 5.0)])
    with pytest.raises(DataError, match=r"Column\(s\) \['x3'\] are constant, so standardize=True"):
        PCA(n_components=2, standardize=True).fit(constant)
    assert PCA(n_components=2).fit(constant).explained_variance_.shape == (2,)  # centring only: fine
    with pytest.raises(DataError, match="Every feature is constant"):
        PCA(n_components=1).fit(np.ones((10, 3)))
    holes = X.copy()
    holes[3, 1] = np.nan
    with pytest.raises(DataError, match=r"Missing values .*'x1' \(1 NaN\).*impute='error'"):
        PCA(n_components=2, impute="error").fit(holes)
    with pytest.raises(DataError, match="at least 2 rows"):
        PCA().fit(X[:1])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        PCA().transform(X)
    model = PCA(n_components=2).fit(X)
    with pytest.raises(SchemaError, match="X has 2 features, but PCA is expecting 3 features"):
        model.transform(X[:, :2])
    with pytest.raises(SchemaError, match="inverse_transform expects n_components_=2"):
        model.inverse_transform(X)
    with pytest.raises(SchemaError, match=r"lacks feature column\(s\) \['x2'\]"):
        model.transform(Dataset(write_parquet(X[:, :2], tmp_path / "two.parquet", 100)))
