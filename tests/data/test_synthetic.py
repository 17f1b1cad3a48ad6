"""The synthetic data generator: layout, schema, determinism, memory and ground truth."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bigfit.data.synthetic import TRUTH_FILE, DatasetTruth, make_dataset
from bigfit.data.synthetic._make import file_bounds
from bigfit.exceptions import DataNotFoundError, InvalidParameterError


def read(out: Path, truth: DatasetTruth) -> pa.Table:
    """Read the files in row order, categoricals decoded to plain strings."""
    if truth.format == "csv":
        table = pa.concat_tables(pcsv.read_csv(out / name) for name in truth.files)
    else:
        table = pa.concat_tables(pq.read_table(out / name) for name in truth.files)
    decoded = pa.schema(
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    )
    return table.cast(decoded).combine_chunks()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- layout and schema ----------------------------------------------------------


def test_files_rows_and_row_groups(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=1000, n_numeric=3, n_files=3, row_group_size=100)
    assert truth.files == ("part-00000.parquet", "part-00001.parquet", "part-00002.parquet")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted([*truth.files, TRUTH_FILE])
    meta = [pq.ParquetFile(tmp_path / "d" / name).metadata for name in truth.files]
    assert [m.num_rows for m in meta] == [300, 300, 400]
    assert [m.num_row_groups for m in meta] == [3, 3, 4]
    assert ds.dataset(tmp_path / "d", format="parquet").count_rows() == 1000  # _truth.json ignored


@pytest.mark.parametrize(
    ("rows", "n_files", "row_group_size", "expected"),
    [
        (10, 3, 65_536, [0, 3, 6, 10]),  # fewer row groups than files: rows split evenly
        (1000, 3, 100, [0, 300, 600, 1000]),  # whole row groups per file
        (1050, 2, 100, [0, 500, 1050]),  # the partial group goes last
        (5, 5, 1, [0, 1, 2, 3, 4, 5]),
    ],
)
def testfile_bounds(rows: int, n_files: int, row_group_size: int, expected: list[int]) -> None:
    assert file_bounds(rows, n_files, row_group_size) == expected


def test_default_one_file_per_million_rows() -> None:
    assert len(file_bounds(2_500_001, 3, 65_536)) == 4
    with tempfile.TemporaryDirectory() as tmp:
        truth = make_dataset(Path(tmp) / "d", rows=10, n_numeric=1)
    assert len(truth.files) == 1


def test_schema_and_categorical_levels(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=5000, n_numeric=4, n_categorical=3)
    table = pq.read_table(tmp_path / "d")
    dictionary = pa.dictionary(pa.int32(), pa.string())
    assert table.schema == pa.schema(
        [(f"f{j}", pa.float64()) for j in range(4)]
        + [(f"c{k}", dictionary) for k in range(3)]
        + [("y", pa.int64())]
    )
    assert truth.categorical_levels == (20, 200, 2000)
    for k, levels in enumerate(truth.categorical_levels):
        values = set(table.column(f"c{k}").cast(pa.string()).to_pylist())
        assert values <= {f"c{k}_{i}" for i in range(levels)}
        assert len(values) == min(levels, 5000) or len(values) > levels * 0.9
    assert table.column("y").null_count == 0
    assert all(table.column(name).null_count == 0 for name in table.column_names)


def test_regression_target_is_float_and_blobs_have_no_categoricals(tmp_path: Path) -> None:
    make_dataset(tmp_path / "r", rows=100, n_numeric=2, kind="regression")
    assert pq.read_schema(tmp_path / "r" / "part-00000.parquet").field("y").type == pa.float64()
    truth = make_dataset(tmp_path / "b", rows=100, n_numeric=2, kind="blobs", n_clusters=3)
    assert pq.read_table(tmp_path / "b").column_names == ["f0", "f1", "y"]
    assert truth.categorical_columns == ()


def test_features_have_different_scales(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=20_000, n_numeric=20, n_categorical=0)
    table = pq.read_table(tmp_path / "d")
    stds = np.array([np.std(table.column(c).to_numpy()) for c in truth.numeric_columns])
    means = np.array([np.mean(table.column(c).to_numpy()) for c in truth.numeric_columns])
    assert stds.max() / stds.min() > 10
    np.testing.assert_allclose(stds, truth.feature_stds, rtol=0.05)
    np.testing.assert_allclose(means, truth.feature_means, atol=0.05 * stds.max())


def test_csv_has_a_header_and_the_same_values_as_parquet(tmp_path: Path) -> None:
    args = dict(rows=3000, n_numeric=3, n_categorical=2, seed=5, n_files=2)
    csv_truth = make_dataset(tmp_path / "c", format="csv", **args)
    parquet_truth = make_dataset(tmp_path / "p", **args)
    assert csv_truth.files == ("part-00000.csv", "part-00001.csv")
    header = (tmp_path / "c" / "part-00000.csv").read_text().splitlines()[0]
    assert header.replace('"', "") == "f0,f1,f2,c0,c1,y"
    assert read(tmp_path / "c", csv_truth).equals(read(tmp_path / "p", parquet_truth))


def test_missing_fraction(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=20_000, n_numeric=3, missing_fraction=0.1)
    table = pq.read_table(tmp_path / "d")
    for name in (*truth.numeric_columns, *truth.categorical_columns):
        assert 0.08 < table.column(name).null_count / 20_000 < 0.12
    assert table.column("y").null_count == 0
    assert np.isnan(truth.decision_function(table)).mean() == pytest.approx(
        1 - 0.9**5, abs=0.02
    )


# --- determinism --------------------------------------------------------------------


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_dataset(tmp_path / name, rows=3000, n_numeric=3, n_files=2, seed=7)
    for name in [*DatasetTruth.load(tmp_path / "a").files, TRUTH_FILE]:
        assert sha256(tmp_path / "a" / name) == sha256(tmp_path / "b" / name)


def test_seed_changes_the_data(tmp_path: Path) -> None:
    a = make_dataset(tmp_path / "a", rows=100, n_numeric=2, seed=1)
    b = make_dataset(tmp_path / "b", rows=100, n_numeric=2, seed=2)
    assert not read(tmp_path / "a", a).equals(read(tmp_path / "b", b))
    assert not np.array_equal(a.coef, b.coef)


REFERENCE_ROWS = 150_000  # more than two 65,536-row random blocks


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    out = tmp_path_factory.mktemp("reference") / "d"
    truth = make_dataset(out, rows=REFERENCE_ROWS, n_numeric=2, n_categorical=1, seed=3)
    return read(out, truth)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, REFERENCE_ROWS),
    n_files=st.integers(1, 5),
    row_group_size=st.sampled_from([1, 1000, 7777, 65_536, 100_000]),
)
def test_rows_do_not_depend_on_layout(
    reference: pa.Table, rows: int, n_files: int, row_group_size: int
) -> None:
    n_files = min(n_files, rows)
    if row_group_size == 1:
        rows = min(rows, 2000)  # one row group per row is slow to write
    with tempfile.TemporaryDirectory() as tmp:
        truth = make_dataset(Path(tmp) / "d", rows=rows, n_numeric=2, n_categorical=1, seed=3,
                             n_files=n_files, row_group_size=row_group_size)
        assert read(Path(tmp) / "d", truth).equals(reference.slice(0, rows))


# --- memory -------------------------------------------------------------------------

_MEMORY_SCRIPT = """
import sys, tempfile
from bigfit.data.synthetic import make_dataset

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

with tempfile.TemporaryDirectory() as tmp:
    make_dataset(tmp + "/warm", rows=1000, n_numeric=50)
    base = status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    make_dataset(tmp + "/d", rows=int(sys.argv[1]), n_numeric=50)
print(status("VmHWM:") - base)
"""


def peak_growth(rows: int) -> int:
    """Peak RSS growth of a fresh process writing ``rows`` rows after a warm-up.

    Measured in the child with VmHWM: ``ru_maxrss`` can carry the parent's peak over
    fork and exec, which made a large pytest process look like a leak.
    """
    script = textwrap.dedent(_MEMORY_SCRIPT)
    result = subprocess.run([sys.executable, "-c", script, str(rows)],
                            capture_output=True, text=True, check=True)
    return int(result.stdout.strip())


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_memory_is_bounded_and_flat_in_rows() -> None:
    small, large = peak_growth(200_000), peak_growth(2_000_000)
    data_size = 2_000_000 * 52 * 8  # 832 MB if it were held in memory
    assert large < 300e6 < data_size
    assert large - small < 64e6


# --- ground truth -------------------------------------------------------------------


def test_truth_file_round_trip(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=100, n_numeric=3, kind="regression")
    loaded = DatasetTruth.load(tmp_path / "d")
    assert json.dumps(loaded.to_dict()) == json.dumps(truth.to_dict())
    assert loaded.kind == "regression" and loaded.seed == 0 and loaded.rows == 100
    assert loaded.numeric_columns == ("f0", "f1", "f2")
    assert loaded.categorical_columns == ("c0", "c1")
    assert loaded.category_effects["c1"].shape == (200,)


def test_load_without_truth_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="No _truth.json"):
        DatasetTruth.load(tmp_path)


def test_n_informative_zeroes_the_other_weights(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=10, n_numeric=10, n_informative=3)
    assert truth.coef is not None
    assert np.count_nonzero(truth.coef) == 3


def test_classification_labels_follow_the_true_logit(tmp_path: Path) -> None:
    label_noise = 0.1
    truth = make_dataset(tmp_path / "d", rows=200_000, n_numeric=10, label_noise=label_noise)
    table = pq.read_table(tmp_path / "d")
    y = table.column("y").to_numpy()
    logit = truth.decision_function(table)

    # P(logistic noise keeps the sign of the logit) = sigmoid(|logit| / noise); a flip
    # with probability label_noise then reverses the agreement.
    keep = 1 / (1 + np.exp(-np.abs(logit) / truth.noise))
    agree = (1 - label_noise) * keep + label_noise * (1 - keep)
    observed = np.mean(y == (logit > 0))
    stderr = np.sqrt(np.sum(agree * (1 - agree))) / len(y)
    assert abs(observed - agree.mean()) < 5 * stderr
    assert 0.75 < agree.mean() < 1 - label_noise  # the check is not vacuous

    p_one = 1 / (1 + np.exp(-logit / truth.noise))
    expected_rate = np.mean((1 - label_noise) * p_one + label_noise * (1 - p_one))
    assert abs(y.mean() - expected_rate) < 5 * np.sqrt(0.25 / len(y))


def test_regression_weights_are_recovered_by_least_squares(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=100_000, n_numeric=8, kind="regression", seed=4)
    table = pq.read_table(tmp_path / "d")
    y = table.column("y").to_numpy()
    X = np.column_stack([table.column(c).to_numpy() for c in truth.numeric_columns])
    assert truth.coef is not None

    # The true model leaves pure gaussian noise.
    residual = y - truth.decision_function(table)
    assert abs(residual.mean()) < 5 * truth.noise / np.sqrt(len(y))
    assert residual.std() == pytest.approx(truth.noise, rel=0.02)

    # Categorical effects are independent of X: least squares on the numeric columns
    # alone is unbiased, with the effects' variance added to the noise.
    design = np.column_stack([X, np.ones(len(y))])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    effect_var = sum(np.var(e) for e in truth.category_effects.values())
    sigma2 = truth.noise**2 + effect_var
    stderr = np.sqrt(sigma2 * np.diag(np.linalg.inv(design.T @ design)))[:-1]
    assert np.all(np.abs(solution[:-1] - truth.coef) < 5 * stderr)
    fitted_var = np.var(y - design @ solution)
    assert fitted_var == pytest.approx(sigma2, rel=0.05)


def test_blob_means_are_the_centres(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=50_000, n_numeric=5, kind="blobs", n_clusters=4)
    table = pq.read_table(tmp_path / "d")
    y = table.column("y").to_numpy()
    X = np.column_stack([table.column(c).to_numpy() for c in truth.numeric_columns])
    assert set(np.unique(y)) == {0, 1, 2, 3}
    assert truth.cluster_centers is not None and truth.cluster_centers.shape == (4, 5)
    for k in range(4):
        members = X[y == k]
        spread = truth.feature_stds * truth.noise
        assert np.all(np.abs(members.mean(axis=0) - truth.cluster_centers[k])
                      < 5 * spread / np.sqrt(len(members)))
        np.testing.assert_allclose(members.std(axis=0), spread, rtol=0.05)


def test_decision_function_rejects_blobs(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=10, n_numeric=2, kind="blobs")
    with pytest.raises(InvalidParameterError, match="'blobs'"):
        truth.decision_function(pq.read_table(tmp_path / "d"))


# --- parameters, atomicity, progress --------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(rows=0), r"'rows' parameter of make_dataset must be an int in the range \[1, inf\)"),
        (dict(rows=1.5), "'rows' parameter"),
        (dict(rows=10, kind="tree"), "'kind' parameter of make_dataset must be one of"),
        (dict(rows=10, format="json"), "'format' parameter"),
        (dict(rows=10, n_files=11), r"'n_files' parameter .* \[1, 10\]. Got 11"),
        (dict(rows=10, label_noise=0.6), "'label_noise' parameter"),
        (dict(rows=10, n_numeric=-1), "'n_numeric' parameter"),
        (dict(rows=10, n_numeric=0, n_categorical=0), "at least one feature"),
        (dict(rows=10, n_categorical=2, n_levels=[5]), "one count per categorical column"),
        (dict(rows=10, kind="blobs", n_numeric=0), "'n_numeric' parameter"),
        (dict(rows=10, n_informative=60), "'n_informative' parameter"),
        (dict(rows=10, seed=-1), "'seed' parameter"),
    ],
)
def test_bad_parameters(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        make_dataset(tmp_path / "d", **kwargs)
    assert not (tmp_path / "d").exists()


def test_n_levels_sets_the_levels(tmp_path: Path) -> None:
    truth = make_dataset(tmp_path / "d", rows=100, n_numeric=1, n_levels=[3, 5, 7])
    assert truth.categorical_columns == ("c0", "c1", "c2")
    assert truth.categorical_levels == (3, 5, 7)


def test_failure_midway_leaves_no_directory(tmp_path: Path) -> None:
    def fail(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_dataset(tmp_path / "d", rows=1000, n_numeric=2, row_group_size=100, progress=fail)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    make_dataset(tmp_path / "d", rows=10, n_numeric=1, seed=1)
    with pytest.raises(InvalidParameterError, match="overwrite=True"):
        make_dataset(tmp_path / "d", rows=10, n_numeric=1, seed=2)
    assert DatasetTruth.load(tmp_path / "d").seed == 1
    make_dataset(tmp_path / "d", rows=10, n_numeric=1, seed=2, overwrite=True)
    assert DatasetTruth.load(tmp_path / "d").seed == 2


def test_progress_reports_every_row(tmp_path: Path) -> None:
    seen: list[int] = []
    make_dataset(tmp_path / "d", rows=1000, n_numeric=1, n_files=3, row_group_size=128,
                 progress=seen.append)
    assert sum(seen) == 1000 and max(seen) <= 128
