"""``init(store_process=True)``: a run's requests go from a child process
(tablelog/objects/process.py). The Store contract through it is in
test_store_conformance.py ("seaweedfs-process"); here, a whole run, errors and
deadlines crossing the pipe, and a child that dies."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any

import pytest
from faultproxy import FaultProxy
from where import Where

import tablelog
from tablelog.errors import NotFoundError, StoreRefusedError, StoreUnavailableError
from tablelog.objects import deadline, open_store
from tablelog.objects.fsspec_store import FsspecStore
from tablelog.objects.local import LocalStore
from tablelog.objects.process import ProcessStore

pytestmark = pytest.mark.s3


def _log(run: Any, steps: range) -> tablelog.Table:
    t = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
    for i in steps:
        t.add_data(i, f"row {i}")
        run.log({"t": t, "loss": 1.0 / (i + 1)}, step=i)
    return t


def _process_store(run: Any) -> ProcessStore:
    store = run._store
    assert isinstance(store, ProcessStore), store
    return store


def test_a_run_through_the_store_process_reads_back(seaweedfs_where: Where) -> None:
    where = seaweedfs_where
    run = where.init(store_process=True)
    store = _process_store(run)
    child = store._proc
    _log(run, range(200))
    m = tablelog.Table(columns=["k", "v"], log_mode="MUTABLE")
    m.add_data("a", 1)
    run.log({"m": m}, step=200)
    m.add_column("w", [2.5])
    run.log({"m": m}, step=201)
    run.finish()
    df = where.scan(f"p/{run.id}/t").collect().sort("i")
    assert df["i"].to_list() == list(range(200))
    assert df["s"].to_list() == [f"row {i}" for i in range(200)]
    assert where.scan(f"p/{run.id}/m").collect()["w"].to_list() == [2.5]
    history = where.scan(f"p/{run.id}/_history").collect()
    assert history["loss"].drop_nulls().to_list() == [1.0 / (i + 1) for i in range(200)]
    assert tablelog.verify(**where.kw()).ok
    until = time.monotonic() + 10  # finish() closed its input: the child exits
    while child.poll() is None and time.monotonic() < until:
        time.sleep(0.05)
    assert child.returncode == 0


def test_local_folders_run_in_process(tmp_path: Any) -> None:
    run = tablelog.init(project="p", root=str(tmp_path), store_process=True)
    assert isinstance(run._store, LocalStore)
    _log(run, range(3))
    run.finish()


def test_errors_and_deadlines_cross_the_pipe(seaweedfs_where: Where, seaweedfs_server: Any) -> None:
    """An error keeps its class; a call inside a deadline makes one attempt (its caller
    retries), outside one the store's own retries apply, as in this process."""
    where, srv = seaweedfs_where, seaweedfs_server
    with FaultProxy(srv.endpoint_url) as proxy:
        opts = proxy.storage_options(srv.key, srv.secret, srv.region)
        inner = open_store(where.root, storage_options=opts)
        assert isinstance(inner, FsspecStore)
        store = ProcessStore(inner)
        try:
            store.put("k", b"v")
            assert not store.put_if_absent("k", b"w") and store.get("k") == b"v"
            with pytest.raises(NotFoundError):
                store.get("absent")

            def refuse_once() -> None:  # the next GET of k: 503, then through
                proxy.clear_rules()
                proxy.inject_error(lambda r: r.key.endswith("/k"), max_consecutive=1)

            refuse_once()
            with deadline.deadline(time.monotonic() + 30), pytest.raises(StoreUnavailableError):
                store.get("k")
            refuse_once()
            proxy.reset()
            assert store.get("k") == b"v"  # (the store's own retry)
            assert [r.status for r in proxy.snapshot()] == [503, 200]
            assert not store._sent and not store._pending  # (nothing kept per request)
            proxy.clear_rules()
            bad = FsspecStore(inner.url, {**opts, "secret": "not-the-secret"})
            refused = ProcessStore(bad)
            try:
                with pytest.raises(StoreRefusedError):
                    refused.put("x", b"1")
            finally:
                refused.close()
        finally:
            store.close()


def test_a_child_that_dies_costs_no_log(seaweedfs_where: Where) -> None:
    """Killed mid-run: the calls in flight fail as a store that went away (the commit
    thread retries them), and the run goes on in this process."""
    where = seaweedfs_where
    run = where.init(store_process=True)
    store = _process_store(run)
    t = _log(run, range(50))
    run.flush()
    os.kill(store._proc.pid, signal.SIGKILL)
    for i in range(50, 100):
        t.add_data(i, f"row {i}")
        run.log({"t": t}, step=i)
    run.finish()
    df = where.scan(f"p/{run.id}/t").collect().sort("i")
    assert df["i"].to_list() == list(range(100))
    assert store._gone is not None and store._proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("executable", "said"),
    [("/nonexistent/python", "no store process"), ("/bin/false", "did not start")],
)
def test_a_store_process_that_cannot_start_leaves_the_run_in_process(
    seaweedfs_where: Where,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    executable: str,
    said: str,
) -> None:
    """No interpreter at all, or a child that exits at once (an import that fails)."""
    monkeypatch.setattr(sys, "executable", executable)
    with caplog.at_level(logging.WARNING, logger="tablelog"):
        run = seaweedfs_where.init(store_process=True)
    assert isinstance(run._store, FsspecStore)
    assert "store_process=True" in caplog.text and said in caplog.text
    _log(run, range(3))
    run.finish()
    assert seaweedfs_where.scan(f"p/{run.id}/t").collect().height == 3


def _proc_store(where: Where) -> ProcessStore:
    inner = open_store(where.root, storage_options=where.storage_options)
    assert isinstance(inner, FsspecStore)
    return ProcessStore(inner)


def test_what_the_child_prints_never_reaches_its_answers(
    seaweedfs_where: Where, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child answers on a pipe of its own: a library printing at start-up (here a
    sitecustomize) or later does not corrupt the answers."""
    (tmp_path / "sitecustomize.py").write_text("print('hello from sitecustomize' * 100)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    store = _proc_store(seaweedfs_where)
    try:
        store.put("k", b"v")
        assert store.get("k") == b"v"
    finally:
        store.close()


def test_a_forked_copy_opens_its_own_store(seaweedfs_where: Where) -> None:
    """A fork (a data loader's worker) must not write into its parent's pipe, nor use
    the parent's s3fs client: its calls run in-process on a store of its own."""
    store = _proc_store(seaweedfs_where)
    try:
        store.put("k", b"v")
        pid = os.fork()
        if pid == 0:  # the fork: report through the exit code only
            ok = False
            try:
                store.put("from-fork", b"f")
                ok = store.get("k") == b"v" and store._forked is not None
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert store.get("from-fork") == b"f"  # (and the parent's child still answers)
        assert store._gone is None
    finally:
        store.close()
