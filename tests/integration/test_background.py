"""Background commits: run.log returns at once, nothing is dropped, errors surface."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

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
    assert tablelog.history("p/ax/t", root=root).height == 60
    assert tablelog.scan("p/ax/_history", root=root).collect().height == 60


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


def test_sync_and_background_write_the_same(where: Any) -> None:
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
    for key in ("t", "m", "_history"):
        a = where.history(f"p/sTrue/{key}").drop("time", "writer")
        b = where.history(f"p/sFalse/{key}").drop("time", "writer")
        assert a.drop("digest").equals(b.drop("digest")), key
        assert (
            where.scan(f"p/sTrue/{key}")
            .collect()
            .drop("_time", strict=False)
            .equals(where.scan(f"p/sFalse/{key}").collect().drop("_time", strict=False))
        )
