"""Quick checks of the loopback S3 servers in tests/servers.py (moto, SeaweedFS)
and of the LocalStack one a developer may have started (skipped when it is not up).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import boto3
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3fs
from botocore.exceptions import ClientError
from servers import S3Server, start_moto, start_seaweedfs

# --------------------------------------------------------------------------
# fixtures (session-scoped: one server of each kind for the whole run)
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    name = f"tl-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    yield name
    s3_server.delete_bucket(name)


def _fs(server: S3Server) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(**server.storage_options(), skip_instance_cache=True)


def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": [1, 2, 3], "s": ["a", "b", "c"]}), buf)
    return buf.getvalue()


# --------------------------------------------------------------------------
# moto and SeaweedFS
# --------------------------------------------------------------------------


@pytest.mark.s3
def test_server_answers(s3_server: S3Server) -> None:
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")
    assert s3_server.startup_seconds is not None
    assert "Buckets" in s3_server.client().list_buckets()


@pytest.mark.s3
def test_create_and_delete_bucket(s3_server: S3Server) -> None:
    name = f"tl-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    c = s3_server.client()
    c.put_object(Bucket=name, Key="a/b.txt", Body=b"x")
    assert name in [b["Name"] for b in c.list_buckets()["Buckets"]]
    s3_server.delete_bucket(name)  # force: not empty
    assert name not in [b["Name"] for b in c.list_buckets()["Buckets"]]
    s3_server.delete_bucket(name)  # gone already: no error


@pytest.mark.s3
def test_put_get_with_s3fs(s3_server: S3Server, bucket: str) -> None:
    fs = _fs(s3_server)
    fs.pipe_file(f"{bucket}/dir/obj.bin", b"hello")
    assert fs.cat_file(f"{bucket}/dir/obj.bin") == b"hello"
    assert fs.ls(f"{bucket}/dir", detail=False) == [f"{bucket}/dir/obj.bin"]
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{bucket}/dir/missing.bin")


@pytest.mark.s3
def test_exclusive_create_fails_the_second_time(s3_server: S3Server, bucket: str) -> None:
    fs = _fs(s3_server)
    path = f"{bucket}/manifest.json"
    fs.pipe_file(path, b"first", mode="create")
    # moto sends <Condition>If-None-Match</Condition>, so s3fs raises
    # FileExistsError; SeaweedFS does not, so s3fs raises OSError(EINVAL).
    # Both carry the botocore ClientError as __cause__.
    with pytest.raises(OSError) as info:
        fs.pipe_file(path, b"second", mode="create")
    cause = info.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.response["Error"]["Code"] == "PreconditionFailed"
    assert cause.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    if s3_server.name == "moto":
        assert isinstance(info.value, FileExistsError)
    assert fs.cat_file(path) == b"first"


@pytest.mark.s3
def test_write_to_missing_bucket_fails(s3_server: S3Server) -> None:
    # SeaweedFS would create the bucket on the fly without -s3.autoCreateBucket=false
    with pytest.raises(FileNotFoundError):
        _fs(s3_server).pipe_file(f"tl-missing-{uuid.uuid4().hex[:8]}/k", b"x")


@pytest.mark.s3
def test_polars_reads_parquet(s3_server: S3Server, bucket: str) -> None:
    _fs(s3_server).pipe_file(f"{bucket}/t/part-0.parquet", _parquet_bytes())
    df = pl.scan_parquet(
        f"s3://{bucket}/t/part-0.parquet", storage_options=s3_server.polars_storage_options()
    ).collect()
    assert df["x"].to_list() == [1, 2, 3]


@pytest.mark.s3
def test_env_points_boto3_at_the_server(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    c = boto3.session.Session().client("s3")
    c.put_object(Bucket=bucket, Key="env.txt", Body=b"via env")
    assert s3_server.client().get_object(Bucket=bucket, Key="env.txt")["Body"].read() == b"via env"


# --------------------------------------------------------------------------
# LocalStack: started by the developer (localstack/README.md), skipped otherwise
# --------------------------------------------------------------------------


@pytest.mark.localstack
def test_localstack_exclusive_create(localstack_server: S3Server) -> None:
    name = f"tl-{uuid.uuid4().hex[:12]}"
    localstack_server.create_bucket(name)
    try:
        fs = _fs(localstack_server)
        fs.pipe_file(f"{name}/k", b"first", mode="create")
        with pytest.raises(FileExistsError):
            fs.pipe_file(f"{name}/k", b"second", mode="create")
        assert fs.cat_file(f"{name}/k") == b"first"
    finally:
        localstack_server.delete_bucket(name)
