"""Secrets and AWS configuration on SeaweedFS (which checks every signature).

* Credentials that tablelog finds (environment, profile) never leave the process's
  own clients: not in a LazyFrame (pickled or serialized), manifests, run.json, any
  other object of the bucket, logs, errors or exports. Polars' credential provider
  looks them up when a query runs.
* An endpoint configured in an AWS profile ([services] section) is used by the writer
  and by every reader alike; the conftest routes anything else through a proxy that
  refuses, so a reader that went to the public AWS endpoint fails here.
"""

from __future__ import annotations

import gzip
import logging
import pickle
import traceback
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from where import Where

import tablelog
from tablelog.cli import main
from tablelog.interop.iceberg import iceberg_io_properties
from tablelog.objects import open_store
from tablelog.read.export import export

pytestmark = pytest.mark.s3


@pytest.fixture(autouse=True)
def _pyiceberg_planner(monkeypatch: pytest.MonkeyPatch) -> None:
    # Polars warns that its optional planner plugin is missing; pyiceberg plans instead.
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")


def _log_some(root: str) -> None:
    with tablelog.init(project="p", id="r", root=root, config={"lr": 0.1}) as run:
        t = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
        for step in range(3):
            t.add_data(step, f"s{step}")
            run.log({"t": t, "loss": step / 3}, step=step)


def _client(where: Where) -> tuple[Any, str]:
    """A boto3 client of the server (its own credentials), and the bucket's name."""
    env = where.env
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    return client, where.root.removeprefix("s3://").split("/", 1)[0]


def _bucket_bytes(where: Where) -> list[tuple[str, bytes]]:
    """Every object of the bucket (gz-compressed ones also decompressed)."""
    client, bucket = _client(where)
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out.append((o["Key"], body))
            if o["Key"].endswith(".gz"):
                out.append((o["Key"] + " (gunzipped)", gzip.decompress(body)))
    return out


def test_no_secret_in_frames_objects_logs_errors_or_exports(
    seaweedfs_where: Where,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where = seaweedfs_where
    for k, v in where.env.items():  # credentials and endpoint from the environment only
        monkeypatch.setenv(k, v)
    secret = where.env["AWS_SECRET_ACCESS_KEY"].encode()
    caplog.set_level(logging.DEBUG, logger="tablelog")
    root = where.root
    _log_some(root)
    found: list[tuple[str, bytes]] = []

    frames = {
        "scan": tablelog.scan("p/r/t", root=root),
        "history": tablelog.scan("p/r/_history", root=root),
        "scan_runs": tablelog.scan_runs("p/*/t", root=root),
    }
    for name, lf in frames.items():
        assert lf.collect().height == 3  # Polars found the credentials on its own
        found.append((f"{name}: serialize", lf.serialize()))
        found.append((f"{name}: pickle", pickle.dumps(lf)))
        found.append((f"{name}: explain", lf.explain().encode()))
        assert pickle.loads(pickle.dumps(lf)).collect().height == 3
    urls, options = tablelog.files("p/r/t", root=root)
    found.append(("files", repr((urls, options)).encode()))

    with pytest.raises(tablelog.TablelogError) as missing:
        tablelog.scan("p/r/nope", root=root)
    found.append(("error", "".join(traceback.format_exception(missing.value)).encode()))
    # A read that fails inside Polars: its message may print the reader's options.
    client, bucket = _client(where)
    for key, _ in _bucket_bytes(where):
        if key.endswith(".parquet"):
            client.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(Exception) as broken:
        tablelog.scan("p/r/t", root=root).collect()
    found.append(("polars error", "".join(traceback.format_exception(broken.value)).encode()))
    with tablelog.init(project="p", id="r2", root=root) as run:
        run.log({"u": tablelog.Table(columns=["x"], data=[[1], [2]])})

    exports = tmp_path / "exports"
    exports.mkdir()
    for ext in ("parquet", "csv", "jsonl", "html"):
        export("p/r2/u", exports / f"u.{ext}", root=root)
    main(["--root", root, "export", "p/r2/u", "--to", str(exports / "cli.csv")])
    catalog = f"sqlite:///{exports / 'catalog.db'}"
    done = tablelog.to_iceberg("p/r2/u", root=root, catalog=catalog, identifier="ml.u")
    props = iceberg_io_properties(open_store(root, storage_options=where.storage_options))
    table = SqlCatalog("tablelog", uri=catalog, **props).load_table("ml.u")
    assert table.scan().to_arrow().num_rows == 2 and done.rows == 2
    found += [(str(p), p.read_bytes()) for p in exports.iterdir()]

    found += _bucket_bytes(where)  # manifests, run.json, objects, Iceberg metadata
    found.append(("logs", caplog.text.encode()))
    out = capsys.readouterr()
    found.append(("stdout/stderr", (out.out + out.err).encode()))
    leaks = [name for name, data in found if secret in data]
    assert not leaks
    assert any("versions/" in name for name, _ in found)  # the grep saw manifests
    assert any(name.endswith("run.json") for name, _ in found)


def _profile(tmp_path: Path, where: Where) -> Path:
    env = where.env
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile lab]\n"
        "region = us-east-1\n"
        "services = lab-services\n"
        f"aws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n"
        "[services lab-services]\n"
        "s3 =\n"
        f"  endpoint_url = {env['AWS_ENDPOINT_URL']}\n"
    )
    return config


def test_profile_endpoint_is_used_by_writes_and_every_read(
    seaweedfs_where: Where,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No AWS_ENDPOINT_URL: the endpoint is only in the profile's [services] section."""
    where = seaweedfs_where
    monkeypatch.setenv("AWS_CONFIG_FILE", str(_profile(tmp_path, where)))
    monkeypatch.setenv("AWS_PROFILE", "lab")
    root = where.root
    _log_some(root)  # writes (s3fs)
    expected = [0, 1, 2]
    assert tablelog.scan("p/r/t", root=root).collect()["i"].to_list() == expected
    assert tablelog.scan("p/r/_history", root=root).collect().height == 3
    assert tablelog.scan_runs("p/*/t", root=root).collect()["i"].to_list() == expected
    export("p/r/t", tmp_path / "t.parquet", root=root)
    assert pl.read_parquet(tmp_path / "t.parquet")["i"].to_list() == expected
    export("p/r/t", tmp_path / "t.html", root=root)
    capsys.readouterr()
    assert main(["--root", root, "show", "p/r/t"]) == 0
    assert "s2" in capsys.readouterr().out
    assert main(["doctor", root]) == 0  # its readers check reads through Polars
    assert "readers" in capsys.readouterr().out
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    done = tablelog.to_iceberg("p/r/t", root=root, catalog=catalog, identifier="ml.t")
    assert done.rows == 3
    # the explicit options of the same server, read back through the Iceberg table
    props: dict[str, Any] = dict(
        iceberg_io_properties(open_store(root, storage_options=where.storage_options))
    )
    table = SqlCatalog("tablelog", uri=catalog, **props).load_table("ml.t")
    assert sorted(table.scan().to_arrow()["i"].to_pylist()) == expected
