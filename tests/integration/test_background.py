"""Background commits: run.log returns at once, nothing is dropped, errors surface."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.writer.worker import Worker


def test_a_script_without_finish_is_flushed_at_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, tablelog
        run = tablelog.init(project="p", id="ax", root=sys.argv[1])
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        for i in range(60):
            t.add_data(i)
            run.log({"t": t, "loss": i / 10})
        """
    )
    root = str(tmp_path / "root")
    subprocess.run([sys.executable, "-c", script, root], check=True, timeout=120)
    assert tablelog.scan("p/ax/t", root=root).collect()["i"].to_list() == list(range(60))
    assert tablelog.scan("p/ax/_history", root=root).collect().height == 60
    # Every log committed, once: 60 increments of one row each, in 1 .. 60 versions (the
    # commit thread groups logs queued while it is busy, docs/format.md "Commits").
    for key in ("t", "_history"):
        incs = tablelog.history(f"p/ax/{key}", root=root, per="increment")
        assert incs["increment"].to_list() == list(range(60)), key
        assert incs["rows"].to_list() == [1] * 60 and incs["log_id"].n_unique() == 60, key
        versions = tablelog.history(f"p/ax/{key}", root=root)
        assert 1 <= versions.height <= 60 and versions["rows"][-1] == 60, key
        assert sorted(set(incs["version"])) == versions["version"].to_list(), key


def test_full_queue_blocks_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    done: list[int] = []
    worker = Worker(maxsize=2)
    threading.Timer(0.3, gate.set).start()
    with caplog.at_level(logging.WARNING, logger="tablelog"):
        for i in range(5):
            worker.submit(lambda i=i: (gate.wait(), done.append(i)))  # type: ignore[misc]
    worker.close()
    assert done == [0, 1, 2, 3, 4]
    assert sum("run.log blocks" in r.message for r in caplog.records) == 1


def test_queued_bytes_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    running: list[int] = []
    worker = Worker(maxsize=100, max_bytes=10)
    threading.Timer(0.3, gate.set).start()
    with caplog.at_level(logging.WARNING, logger="tablelog"):
        worker.submit(lambda: (gate.wait(), running.append(0)), 6)  # type: ignore[func-returns-value]
        worker.submit(lambda: running.append(1), 50)  # over the bound alone: waits, then goes
        assert running[:1] == [0]  # the second submit returned only after the first ran
        worker.submit(lambda: running.append(2), 4)
    worker.close()
    assert running == [0, 1, 2]
    assert sum("MiB of rows are waiting" in r.message for r in caplog.records) == 1


def _rows(where: Any, path: str, **kw: Any) -> pl.DataFrame:
    return where.scan(path, **kw).collect().drop("_time", strict=False)


def test_sync_and_background_write_the_same(where: Any) -> None:
    """A background run may commit several INCREMENTAL logs (``t``, ``_history``) as one
    version (docs/format.md, "Commits"): "the same" is the same logs, each an increment
    with the same number, step, rows and content (all but its log id), and the same
    table after each and at the end; MUTABLE keeps a version per log in both."""
    for sync in (True, False):
        with where.init(id=f"s{sync}", sync=sync) as run:
            t = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
            m = tablelog.Table(columns=["i"], log_mode="MUTABLE")
            for i in range(5):
                t.add_data(i, str(i))
                m.add_data(i)
                run.log({"t": t, "m": m, "loss": i / 2}, step=i)
            m.add_column("sq", [i * i for i in range(5)])
            run.log({"m": m})
    for key in ("t", "_history"):
        a, b = (f"p/s{sync}/{key}" for sync in (True, False))
        incs = [tablelog.history(p, **where.kw(), per="increment") for p in (a, b)]
        same = ["increment", "step", "rows"]
        assert incs[0].select(same).equals(incs[1].select(same)), key
        assert incs[0]["increment"].to_list() == list(range(5)), key
        assert incs[0]["version"].to_list() == list(range(5)), key  # sync: a version each
        for got in incs:
            assert got["log_id"].n_unique() == 5 and got["rows"].to_list() == [1] * 5, key
        for i, step in zip(incs[0]["increment"], incs[0]["step"], strict=True):
            one = _rows(where, a, increment=i)
            assert one.height == 1 and one.equals(_rows(where, b, increment=i)), (key, i)
            assert _rows(where, a, step=step).equals(_rows(where, b, step=step)), (key, step)
        assert _rows(where, a).equals(_rows(where, b)), key
        # The background run's versions: each holds the increments up to its last one.
        held = incs[1].group_by("version").agg(pl.col("increment").max()).sort("version")
        versions = where.history(b)
        assert versions["version"].to_list() == held["version"].to_list(), key
        for v, last in held.iter_rows():
            assert _rows(where, b, version=v).equals(_rows(where, a, version=last)), (key, v)
    a = where.history("p/sTrue/m").drop("time", "writer", "digest")
    b = where.history("p/sFalse/m").drop("time", "writer", "digest")
    assert a.equals(b) and a.height == 6
    for v in range(6):
        assert _rows(where, "p/sTrue/m", version=v).equals(_rows(where, "p/sFalse/m", version=v))
