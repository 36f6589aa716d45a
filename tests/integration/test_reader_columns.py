"""Columns that readers add never replace a user's column (issue 22, case 7).

``scan_runs`` names each row's run in ``run_column`` (default ``run_id``) and refuses a
table with a column of that name; a sharded run refuses a ``_shard`` column at
``run.log``, and reads of a sharded table refuse one that got in anyway.
"""

from __future__ import annotations

from typing import Any

import pytest

import tablelog
from tablelog.format import paths
from tablelog.format.chain import TableRef
from tablelog.objects.open import open_store
from tablelog.writer.committer import KeyCommitter
from tablelog.writer.keylog import KeyLog


def test_scan_runs_never_replaces_a_user_run_id_column(local: Any) -> None:
    for run_id in ("a", "b"):
        with local.init(id=run_id) as run:
            run.log({"t": tablelog.Table(columns=["run_id", "x"], data=[["mine", 1]])})
    with pytest.raises(tablelog.TableError, match="run_column"):
        local.scan_runs("p/*/t").collect()
    df = tablelog.scan_runs("p/*/t", **local.kw(), run_column="run").collect()
    assert df.sort("run").rows() == [("mine", 1, "a"), ("mine", 1, "b")]


def test_a_sharded_run_refuses_a_shard_column_at_log(local: Any) -> None:
    run = local.init(id="job", shard="r0")
    t = tablelog.Table(columns=["_shard", "x"], data=[["mine", 1]])
    with pytest.raises(tablelog.RunError, match="_shard"):
        run.log({"t": t})
    run.log({"t": tablelog.Table(columns=["x"], data=[[1]])})
    run.finish()
    assert local.scan("p/job/t").collect().rows() == [(1, "r0")]
    with local.init(id="plain") as plain:  # an unsharded run's rows get no _shard
        plain.log({"t": t})
    assert local.scan("p/plain/t").collect().rows() == [("mine", 1)]


def test_a_sharded_read_refuses_a_stored_shard_column(local: Any) -> None:
    """A shard whose rows hold a _shard column (logged before runs refused it)."""
    with local.init(id="old"):
        pass
    ref = TableRef(open_store(local.root), "p", "old", paths.shard_key("r0", "t"))
    committer = KeyCommitter(ref=ref, writer="old-writer")
    committer.open()
    job = KeyLog(key="t", path="p/old/t").prepare(
        tablelog.Table(columns=["_shard", "x"], data=[["mine", 1]]), step=0, separate=False
    )
    assert job is not None
    committer.apply(job)
    for read in (
        lambda: local.scan("p/old/t"),
        lambda: local.scan("p/old/t", shard="r0"),
        lambda: local.scan_runs("p/*/t"),
    ):
        with pytest.raises(tablelog.TableError, match="_shard/r0/t"):
            read()
    # The shard's own chain reads as logged.
    assert local.scan("p/old/_shard/r0/t").collect().rows() == [("mine", 1)]
