"""ONNX export of the linear estimators: onnxruntime must predict what bigfit predicts."""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow as pa
import pytest

import bigfit
from bigfit import Dataset, LinearRegression, LogisticRegression, SGDClassifier, SGDRegressor
from bigfit.exceptions import InvalidParameterError, MissingDependencyError, NotFittedError

N_ROWS = 2_000


def run_onnx(model, X: np.ndarray, *, opset: int | None = None) -> dict[str, np.ndarray]:
    """Export ``model``, check the graph and return onnxruntime's outputs on ``X``, by name."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    proto = model.to_onnx(opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X.astype(np.float32)}), strict=True))


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    """Columns of very different centres and spreads, 10% NaN, and three kinds of target."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, 5)) * [1.0, 10.0, 0.01, 1000.0, 1.0] + [0.0, 5.0, 1e4, -3.0, 0.0]
    X[rng.random(X.shape) < 0.1] = np.nan
    Z = np.nan_to_num((X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0))
    noise = rng.normal(size=(N_ROWS, 3))
    return {
        "X": X,
        "binary": (Z[:, 0] - Z[:, 1] + 0.5 * noise[:, 0] > 0).astype(np.int64),
        "multinomial": np.array(["ant", "bee", "cat"])[np.argmax(Z[:, :3] + noise, axis=1)],
        "regression": Z @ [0.1, 0.2, -0.3, 0.4, 0.5] + 0.7 + 0.1 * noise[:, 0],
    }


CLASSIFIERS = {
    "logistic-binary": (lambda: LogisticRegression(), "binary"),
    "logistic-multinomial": (lambda: LogisticRegression(), "multinomial"),
    "sgd-binary": (lambda: SGDClassifier(loss="log_loss", random_state=0), "binary"),
    "sgd-multinomial": (lambda: SGDClassifier(loss="log_loss", random_state=0), "multinomial"),
    "unscaled-constant": (lambda: LogisticRegression(standardize=False, impute="constant"),
                          "multinomial"),
}

REGRESSORS = {
    "linear": lambda: LinearRegression(),
    "huber": lambda: LinearRegression(loss="huber"),
    "sgd": lambda: SGDRegressor(random_state=0),
    "unscaled-constant": lambda: LinearRegression(standardize=False, impute="constant"),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_matches_predict_proba(data, name: str) -> None:
    make, target = CLASSIFIERS[name]
    model = make().fit(data["X"], data[target])
    out = run_onnx(model, data["X"])
    assert out["probabilities"].dtype == np.float32
    assert out["probabilities"].shape == (N_ROWS, len(model.classes_))
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(data["X"]), rtol=0,
                               atol=1e-5)
    np.testing.assert_array_equal(out["label"], model.predict(data["X"]))


@pytest.mark.parametrize("name", REGRESSORS)
def test_regressor_matches_predict(data, name: str) -> None:
    model = REGRESSORS[name]().fit(data["X"], data["regression"])
    out = run_onnx(model, data["X"])
    assert out["variable"].dtype == np.float32 and out["variable"].shape == (N_ROWS, 1)
    np.testing.assert_allclose(out["variable"][:, 0], model.predict(data["X"]), rtol=0, atol=1e-5)


def test_large_targets_agree_to_float32_precision(data) -> None:
    model = LinearRegression().fit(data["X"], data["regression"] * 1e4)
    expected = model.predict(data["X"])
    out = run_onnx(model, data["X"])
    # float32 sums: the error is relative to the size of the terms, not of each output
    np.testing.assert_allclose(out["variable"][:, 0], expected, rtol=0,
                               atol=1e-6 * np.abs(expected).max())


def test_labels_keep_the_classes_dtype(data) -> None:
    X = data["X"]
    floats = LogisticRegression().fit(X, data["binary"] + 1.0)
    labels = run_onnx(floats, X)["label"]
    assert labels.dtype == np.float64
    np.testing.assert_array_equal(labels, floats.predict(X))
    booleans = LogisticRegression().fit(X, data["binary"].astype(bool))
    np.testing.assert_array_equal(run_onnx(booleans, X)["label"], booleans.predict(X))


def test_named_columns_in_input_order(table: pa.Table) -> None:
    onnx = pytest.importorskip("onnx")
    model = LogisticRegression().fit(Dataset(table, target="y", features=["c", "a", "b"]))
    X = np.column_stack([table.column(name).to_numpy(zero_copy_only=False)
                         for name in model.transformer_.feature_names_in_])
    assert np.isnan(X).any()
    out = run_onnx(model, X)
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(table), atol=1e-5)
    props = {p.key: p.value for p in model.to_onnx().metadata_props}
    assert props["bigfit.estimator"] == "LogisticRegression"
    assert json.loads(props["bigfit.input_columns"]) == model.input_columns_["numeric"] == [
        "c", "a", "b"]
    assert model.to_onnx().graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3
    assert onnx.checker.check_model(model.to_onnx()) is None


def test_save_and_reload(tmp_path, data) -> None:
    onnx = pytest.importorskip("onnx")
    model = LogisticRegression().fit(data["X"], data["multinomial"])
    path = tmp_path / "model.onnx"
    onnx.save_model(model.to_onnx(), str(path))
    loaded = onnx.load_model(str(path))
    onnx.checker.check_model(loaded)
    assert loaded.SerializeToString() == model.to_onnx().SerializeToString()
    model.save(str(tmp_path / "model.bigfit"))
    restored = bigfit.load(str(tmp_path / "model.bigfit"))
    assert restored.to_onnx().SerializeToString() == model.to_onnx().SerializeToString()


@pytest.mark.parametrize("opset", [13, 21])
def test_opsets(data, opset: int) -> None:
    model = LogisticRegression().fit(data["X"], data["binary"])
    out = run_onnx(model, data["X"], opset=opset)
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(data["X"]), atol=1e-5)


def test_bad_opset_is_refused(data) -> None:
    pytest.importorskip("onnx")
    model = LogisticRegression().fit(data["X"][:100], data["binary"][:100])
    for opset in (12, 10_000, "17", True):
        with pytest.raises(InvalidParameterError, match="'opset' parameter of to_onnx"):
            model.to_onnx(opset=opset)  # type: ignore[arg-type]


def test_categorical_and_datetime_columns_are_refused(table: pa.Table) -> None:
    pytest.importorskip("onnx")
    model = LogisticRegression(max_iter=5).fit(Dataset(table, target="y", weight="w"))
    with pytest.raises(InvalidParameterError, match="numeric features only") as info:
        model.to_onnx()
    message = str(info.value)
    assert "categorical ['city', 'flag']" in message and "datetime ['when']" in message
    assert isinstance(info.value, ValueError)


def test_hinge_is_refused(data) -> None:
    pytest.importorskip("onnx")
    model = SGDClassifier(loss="hinge", max_iter=2).fit(data["X"], data["binary"])
    with pytest.raises(InvalidParameterError, match="loss='hinge'"):
        model.to_onnx()


def test_unfitted_model_is_refused() -> None:
    pytest.importorskip("onnx")
    with pytest.raises(NotFittedError):
        LogisticRegression().to_onnx()


def test_missing_onnx_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch, data) -> None:
    model = LinearRegression().fit(data["X"][:100], data["regression"][:100])
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'bigfit\[onnx\]'") as info:
        model.to_onnx()
    assert isinstance(info.value, ImportError)
