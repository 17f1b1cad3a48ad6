"""Datasets on S3, against an S3-compatible server (moto) that the test starts on 127.0.0.1."""

from __future__ import annotations

import socket

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from bigfit import Dataset
from bigfit.data.batch import Batch

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

BUCKET = "bigfit-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield url
    server.stop()


@pytest.fixture(scope="module")
def s3_table(endpoint: str, table: pa.Table) -> pa.Table:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    for i, rows in enumerate(np.array_split(np.arange(table.num_rows), 2)):
        sink = pa.BufferOutputStream()
        pq.write_table(table.take(rows), sink, row_group_size=1_000)
        client.put_object(Bucket=BUCKET, Key=f"parquet/part-{i}.parquet", Body=sink.getvalue().to_pybytes())
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    client.put_object(Bucket=BUCKET, Key="csv/data.csv", Body=sink.getvalue().to_pybytes())
    return table


def options(endpoint: str) -> dict:
    return {"endpoint_url": endpoint, "key": "testing", "secret": "testing",
            "client_kwargs": {"region_name": "us-east-1"}}


def ordered(ds: Dataset) -> Batch:
    return Batch.concat(list(ds.batches()))


def test_parquet_on_s3_with_storage_options(endpoint: str, s3_table: pa.Table) -> None:
    ds = Dataset(f"s3://{BUCKET}/parquet/", target="y", storage_options=options(endpoint))
    local = ordered(Dataset(s3_table, target="y"))
    assert ds.num_rows == s3_table.num_rows and len(ds.files) == 2
    assert len(ds.shards(6)) == 6
    np.testing.assert_array_equal(ordered(ds).X, local.X)
    np.testing.assert_array_equal(ordered(ds).y, local.y)


def test_csv_on_s3_from_environment(endpoint: str, s3_table: pa.Table,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    ds = Dataset(f"s3://{BUCKET}/csv/data.csv", target="y", block_bytes=100_000)
    assert len(ds.shards(100)) > 2
    got = Batch.concat([b for shard in ds.shards(4) for b in shard.batches()])
    np.testing.assert_array_equal(got.X, ordered(Dataset(s3_table, target="y")).X)


def test_glob_and_missing_key_on_s3(endpoint: str, s3_table: pa.Table) -> None:
    ds = Dataset(f"s3://{BUCKET}/parquet/part-*.parquet", storage_options=options(endpoint))
    assert len(ds.files) == 2
    from bigfit.exceptions import DataNotFoundError
    with pytest.raises(DataNotFoundError, match="missing"):
        Dataset(f"s3://{BUCKET}/missing/", storage_options=options(endpoint))


def test_workers_write_predictions_to_s3(endpoint: str, s3_table: pa.Table) -> None:
    from bigfit import LogisticRegression
    from bigfit.exceptions import InvalidParameterError
    from bigfit.models._predict import write_predictions

    data = Dataset(f"s3://{BUCKET}/parquet/", storage_options=options(endpoint))
    model = LogisticRegression(max_iter=5).fit(Dataset(s3_table.select(["a", "b", "y"]), target="y"))
    out = f"s3://{BUCKET}/predictions"
    rows = write_predictions(model, data, out, engine="local[2]", storage_options=options(endpoint))
    assert rows == s3_table.num_rows
    written = Dataset(out + "/", storage_options=options(endpoint))
    assert written.num_rows == rows and len(written.files) >= 4
    with pytest.raises(InvalidParameterError, match="already exists"):
        write_predictions(model, data, out, engine="local[2]", storage_options=options(endpoint))
