"""Many OS processes logging to one table on a real S3 server (SeaweedFS)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from typing import Any

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
    assert len(history) == writers * n
    for v, (m, digest) in enumerate(history):
        assert m.version == v and m.parent == parent
        parent = digest
    for v in (0, 399, 799):
        assert (
            tablelog.scan("p/multi/shared", version=v, **seaweedfs_where.kw()).collect().height
            == v + 1
        )
    print(
        f"\n{writers}x{n} commits on SeaweedFS in {elapsed:.1f} s "
        f"({writers * n / elapsed:.1f} commits/s)"
    )
