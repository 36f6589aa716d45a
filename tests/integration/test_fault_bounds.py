"""Failure bounds (docs/failures.md): with the store failing in each way the fault proxy
can, ``run.log`` never blocks longer than ``retry_for`` + one request timeout,
``finish()`` returns within ``2 * (retry_for + request timeout)`` (plus the local
work of spooling), and every log lands after ``tablelog sync``.

The elapsed times are compared with the documented bounds: a correctness bound (the
promise to a training loop), not a speed measurement, so the slack is generous for a
loaded 2-core machine; the behaviour this guards against blocked for minutes.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy, Request
from servers import S3Server

import tablelog
from tablelog.format import paths

pytestmark = pytest.mark.s3

_counter = itertools.count()

RETRY_FOR = 2.0
#: botocore connect + read timeout given to the store: one request's longest wait.
CONNECT_S, READ_S = 0.5, 1.0
REQUEST_TIMEOUT = CONNECT_S + READ_S
LOG_BOUND = RETRY_FOR + REQUEST_TIMEOUT
FINISH_BOUND = 2 * (RETRY_FOR + REQUEST_TIMEOUT)
#: For a loaded machine: scheduling, spooling to disk, Python start-up of threads.
SLACK = 4.0


def _versions(r: Request) -> bool:
    return "/versions/" in r.key


#: Each way the store can fail, as proxy rules: every request reset; 5xx on data
#: objects; 5xx on manifest creates only (objects land, the manifest never does: a
#: server dying in between); a read-only prefix (table t's versions: 403 to writes);
#: every connection accepted and never answered.
FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    "resets": lambda p: p.reset_connections(lambda r: True, rate=1.0),
    "5xx-objects": lambda p: p.inject_error(
        lambda r: r.method == "PUT" and "/objects/" in f"/{r.key}", status=500, code="InternalError"
    ),
    "5xx-manifests-only": lambda p: p.inject_error(
        lambda r: r.method == "PUT" and _versions(r), status=503, code="SlowDown"
    ),
    "read-only-prefix": lambda p: p.deny_writes("pfx/" + paths.versions_prefix("p", "r", "t")),
    "black-hole": lambda p: p.black_hole(lambda r: True),
}


@pytest.fixture
def bucket(moto_server: S3Server) -> Iterator[tuple[S3Server, str]]:
    name = f"fb-{os.getpid()}-{next(_counter)}"
    moto_server.create_bucket(name)
    yield moto_server, name
    moto_server.delete_bucket(name)


def _options(server: S3Server, endpoint: str) -> dict[str, Any]:
    return {
        "key": server.key,
        "secret": server.secret,
        "client_kwargs": {"endpoint_url": endpoint, "region_name": server.region},
        "config_kwargs": {"connect_timeout": CONNECT_S, "read_timeout": READ_S},
    }


@pytest.mark.parametrize("fault", list(FAULTS))
def test_log_and_finish_are_bounded_and_everything_lands_after_sync(
    fault: str,
    bucket: tuple[S3Server, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The store fails from the first log on: that log spools too (its probe and
    reads are not allowed to raise into the loop), and so does every later one."""
    _through_fault(fault, bucket, tmp_path, monkeypatch, capsys, healthy_first=False)


@pytest.mark.parametrize("fault", ["resets", "5xx-manifests-only"])
def test_bounds_hold_when_the_store_fails_mid_run(
    fault: str,
    bucket: tuple[S3Server, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The store answered the first log (the probe passed, the keys are open), then
    fails: the commit gives up after retry_for, not after botocore's, s3fs' and the
    commit loop's retries one inside the other (105-131 s with every reset)."""
    _through_fault(fault, bucket, tmp_path, monkeypatch, capsys, healthy_first=True)


def _through_fault(
    fault: str,
    bucket: tuple[S3Server, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    healthy_first: bool,
) -> None:
    server, name = bucket
    spool = tmp_path / "spool"
    monkeypatch.setenv("TABLELOG_SPOOL", str(spool))
    root = f"s3://{name}/pfx"
    n = 6
    with FaultProxy(server.endpoint_url) as proxy:
        run = tablelog.init(
            project="p",
            id="r",
            root=root,
            storage_options=_options(server, proxy.endpoint_url),
            retry_for=RETRY_FOR,
            queue_size=2,  # a full queue: run.log waits for the committer
        )
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        first = 0
        if healthy_first:
            t.add_data(0)
            run.log({"t": t, "loss": 0.0}, step=0)
            run.flush()
            first = 1
        FAULTS[fault](proxy)
        worst = 0.0
        for i in range(first, n):
            t.add_data(i)
            t0 = time.monotonic()
            run.log({"t": t, "loss": i / 10}, step=i)  # never raises: it spools
            worst = max(worst, time.monotonic() - t0)
        t0 = time.monotonic()
        run.finish()
        finish_s = time.monotonic() - t0
        proxy.clear_rules()
    with capsys.disabled():
        print(
            f"\n[{fault}{' mid-run' if healthy_first else ''}] retry_for={RETRY_FOR} s, "
            f"request timeout {REQUEST_TIMEOUT} s: worst run.log {worst:.2f} s "
            f"(bound {LOG_BOUND}), finish {finish_s:.2f} s (bound {FINISH_BOUND})"
        )
    assert worst <= LOG_BOUND + SLACK
    assert finish_s <= FINISH_BOUND + SLACK
    assert list(spool.rglob("*.job.json"))  # nothing could land: it waits on disk
    opts = server.storage_options()
    committed, _ = tablelog.sync(spool, storage_options=opts)
    assert committed > 0 and not list(spool.rglob("*.job.json"))
    got = tablelog.scan("p/r/t", root=root, storage_options=opts).collect()
    assert got["i"].to_list() == list(range(n))
    history = tablelog.scan("p/r/_history", root=root, storage_options=opts).collect()
    assert history["loss"].to_list() == [i / 10 for i in range(n)]
