"""Many OS processes logging to one table on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.format.chain import TableRef, latest_version, read_history
from tablelog.objects import open_store

pytestmark = [pytest.mark.s3, pytest.mark.slow]

WRITER = textwrap.dedent(
    """
    import sys, tablelog
    root, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = tablelog.init(project="p", id="multi", resume="allow", root=root)
    t = tablelog.Table(columns=["writer", "i"], log_mode="INCREMENTAL")
    for i in range(n):
        t.add_data(name, i)
        run.log({"shared": t})
    run.finish()
    """
)


def test_eight_processes_hundred_logs_each(seaweedfs_where: Any) -> None:
    writers, n = 8, 100
    env = {**os.environ, **seaweedfs_where.env}
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, seaweedfs_where.root, f"w{w}", str(n)], env=env
        )
        for w in range(writers)
    ]
    assert [p.wait(timeout=600) for p in procs] == [0] * writers
    elapsed = time.monotonic() - start
    df = tablelog.scan("p/multi/shared", **seaweedfs_where.kw()).collect()
    assert df.height == writers * n
    assert df.select("writer", "i").n_unique() == writers * n
    assert sorted(df["_increment"].to_list()) == list(range(writers * n))
    ref = TableRef(open_store(**seaweedfs_where.kw()), "p", "multi", "shared")
    parent = None
    history = read_history(ref, latest_version(ref))
    # A commit carries the logs its writer had queued (docs/format.md, "Commits"): 1 ..
    # 800 versions, 800 increments, each one log of one writer, numbered without a gap.
    # (Format 1, with $TABLELOG_WRITE_FORMAT=1: a version is one log.)
    assert 1 <= len(history) <= writers * n
    increments: list[tuple[int, int, Any]] = []  # (number, rows, log id) of each log
    counts = []  # the increments of versions 0 .. v
    for v, (m, digest) in enumerate(history):
        assert m.version == v and m.parent == parent
        if m.format_version == 1:
            logs = [(v, m.rows - len(increments), m.extra.get("log"))]
        else:
            logs = [(i.number, i.rows, i.log_id) for i in m.increments or ()]
        assert logs
        increments.extend(logs)
        assert m.rows == len(increments) == (m.increment_count or len(increments))
        counts.append(len(increments))
        parent = digest
    assert [number for number, _, _ in increments] == list(range(writers * n))
    assert [rows for _, rows, _ in increments] == [1] * (writers * n)
    assert len({log_id for _, _, log_id in increments}) == writers * n
    rows = df.sort("_increment")
    first = 0
    for count in counts:  # a commit holds logs of one writer, in that writer's order
        held = rows.slice(first, count - first)
        assert held["writer"].n_unique() == 1, count
        first = count
    for w in range(writers):
        assert rows.filter(pl.col("writer") == f"w{w}")["i"].to_list() == list(range(n))
    incs = tablelog.history("p/multi/shared", per="increment", **seaweedfs_where.kw())
    assert incs.select("increment", "log_id").rows() == [(i, log) for i, _, log in increments]
    for v in sorted({0, len(history) // 2, len(history) - 1}):
        assert (
            tablelog.scan("p/multi/shared", version=v, **seaweedfs_where.kw()).collect().height
            == counts[v]
        )
    for i in (0, 399, 799):
        got = tablelog.scan("p/multi/shared", increment=i, **seaweedfs_where.kw()).collect()
        want = rows.select("writer", "i", "_increment").row(i)
        assert got.select("writer", "i", "_increment").rows() == [want]
    print(
        f"\n{writers}x{n} logs in {len(history)} commits on SeaweedFS in {elapsed:.1f} s "
        f"({writers * n / elapsed:.1f} logs/s)"
    )


MUTABLE_WRITER = textwrap.dedent(
    """
    import json, sys, tablelog
    root, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = tablelog.init(project="p", id="mut", resume="allow", root=root, sync=True)
    t = tablelog.Table(columns=["writer", "i"], log_mode="MUTABLE")
    ok, conflicts = 0, []
    for i in range(rounds):
        t.add_data(name, i, *[i] * (len(t.columns) - 2))
        if i % 5 == 4:
            t.add_column(f"{name}_c{i}", list(range(t.num_rows)))
        try:
            run.log({"eval": t})
            ok += 1
        except tablelog.CommitConflictError as e:
            conflicts.append(str(e))
            t = tablelog.Table(columns=t.columns, data=t.data, log_mode="MUTABLE")
    run.finish()
    print(json.dumps({"ok": ok, "conflicts": conflicts}))
    """
)


@pytest.mark.parametrize("kind", ["local", "moto", "seaweedfs"])
def test_two_processes_mutable_no_version_lost(kind: str, make_root: Any) -> None:
    where = make_root(kind)
    env = {**os.environ, **where.env}
    rounds = 20
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MUTABLE_WRITER, where.root, name, str(rounds)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    committed = sum(o["ok"] for o in outs)
    for o in outs:
        assert o["ok"] + len(o["conflicts"]) == rounds
        for message in o["conflicts"]:
            assert "changed under this writer" in message or "added by another writer" in message
    kw = where.kw()
    hist = tablelog.history("p/mut/eval", **kw)
    assert hist.height == committed  # no version lost, none written twice
    ref = TableRef(open_store(**kw), "p", "mut", "eval")
    parent = None
    for v, (m, digest) in enumerate(read_history(ref, latest_version(ref))):
        assert m.version == v and m.parent == parent
        parent = digest
        assert tablelog.scan("p/mut/eval", version=v, **kw).collect().height == m.rows
