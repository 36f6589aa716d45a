"""The commit protocol under concurrency: stale handles, lost replies, real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.errors import StoreError, TableError
from tablelog.format.chain import TableRef, latest_version, read_history
from tablelog.format.commit import commit
from tablelog.format.manifest import MAX_MANIFEST_BYTES, Column, ColumnGroup
from tablelog.format.plan import Intent, NewFragment
from tablelog.format.state import TableState
from tablelog.objects import open_store
from tablelog.objects.store import Store


def _chain_is_linear(where: Any, path: str) -> int:
    project, run_id, key = path.split("/", 2)
    ref = TableRef(
        open_store(where.root, storage_options=where.storage_options), project, run_id, key
    )
    history = read_history(ref, latest_version(ref))
    parent = None
    for n, (m, digest) in enumerate(history):
        assert m.version == n and m.parent == parent
        parent = digest
    return len(history)


def test_stale_handle_rebases_incremental_appends(where: Any) -> None:
    # sync=True: each log is one commit before log returns (no group commit), so every
    # log of b lands on a chain that a moved since b's last look.
    a = where.init(id="shared", resume="allow", sync=True)
    b = where.init(id="shared", resume="allow", sync=True)
    ta = tablelog.Table(columns=["w", "i"], log_mode="INCREMENTAL")
    tb = tablelog.Table(columns=["w", "i"], log_mode="INCREMENTAL")
    for i in range(5):
        ta.add_data("a", i)
        a.log({"t": ta}, step=i)
        tb.add_data("b", i)
        b.log({"t": tb}, step=i)  # b's view is one version behind every time
    a.finish()
    b.finish()
    df = where.scan("p/shared/t").collect()
    assert sorted(df.rows()) == sorted(
        [
            ("a", i, v)
            for i, v in zip(range(5), df.filter(pl.col("w") == "a")["_increment"], strict=True)
        ]
        + [
            ("b", i, v)
            for i, v in zip(range(5), df.filter(pl.col("w") == "b")["_increment"], strict=True)
        ]
    )
    assert df.height == 10 and df.select("w", "i").n_unique() == 10
    assert _chain_is_linear(where, "p/shared/t") == 10
    # Logs alternate a, b: each log is its own increment, in log order.
    assert df.sort("_increment").select("w", "i").rows() == [(w, i) for i in range(5) for w in "ab"]


def test_mutable_base_moved_is_a_clear_conflict(local: Any) -> None:
    a = local.init(id="m", resume="allow", sync=True)
    b = local.init(id="m", resume="allow", sync=True)
    ta = tablelog.Table(columns=["x"], data=[[1], [2]], log_mode="MUTABLE")
    a.log({"eval": ta})
    tb = tablelog.Table(columns=["x"], data=[[7]], log_mode="MUTABLE")
    b.log({"eval": tb})  # replaces the table with b's rows (a new version)
    ta.add_column("y", [10, 20])
    with pytest.raises(tablelog.CommitConflictError, match="changed under this writer"):
        a.log({"eval": ta})
    hist = local.history("p/m/eval")
    assert hist["rows"].to_list() == [2, 1]  # nothing overwritten, nothing lost
    assert local.scan("p/m/eval", version=0).collect()["x"].to_list() == [1, 2]
    # Appending rows to a moved base rebases cleanly.
    tb.add_data(8)
    a2 = local.init(id="m", resume="allow", sync=True)
    a2.log({"eval": tablelog.Table(columns=["x"], data=[[5]], log_mode="MUTABLE")})
    b.log({"eval": tb})
    assert local.scan("p/m/eval").collect()["x"].to_list() == [5, 8]


def test_background_commit_errors_surface_at_next_log_and_finish(local: Any) -> None:
    a = local.init(id="bg", resume="allow")
    b = local.init(id="bg", resume="allow", sync=True)
    ta = tablelog.Table(columns=["x"], data=[[1]], log_mode="MUTABLE")
    a.log({"eval": ta})
    a.flush()
    b.log({"eval": tablelog.Table(columns=["x"], data=[[2]], log_mode="MUTABLE")})
    ta.add_column("y", [1])
    a.log({"eval": ta})  # queued; the conflict happens on the worker
    with pytest.raises(tablelog.RunError, match=r"background commit .* failed") as exc:
        a.flush()
        a.log({"loss": 1.0})
    assert isinstance(exc.value.__cause__, tablelog.CommitConflictError)
    with pytest.raises(tablelog.RunError, match="1 log"):
        a.finish()
    run_json = open_store(local.root).get("projects/p/runs/bg/run.json")
    assert b'"status":"failed"' in run_json


class DropReplyStore(Store):
    """Stores every manifest, then loses the reply of the first ``drops`` creates."""

    def __init__(self, inner: Store, drops: int) -> None:
        self.inner, self.drops, self.url = inner, drops, inner.url
        self.supports_conditional_create = True

    def put_if_absent(self, key: str, data: bytes) -> bool:
        created = self.inner.put_if_absent(key, data)
        if "/versions/" in key and self.drops > 0:
            self.drops -= 1
            raise StoreError(f"connection reset after storing {key}")
        return created

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def put(self, key: str, data: bytes) -> None:
        self.inner.put(key, data)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str) -> Any:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def test_lost_reply_is_recognised_not_duplicated(where: Any) -> None:
    from tablelog.format.commit import commit
    from tablelog.format.manifest import Column
    from tablelog.format.plan import Intent
    from tablelog.format.state import TableState

    store = DropReplyStore(open_store(where.root, storage_options=where.storage_options), 3)
    ref = TableRef(store, "p", "r", "k")
    state = TableState()
    schema = (Column(name="a", kind="number", arrow="int64"),)
    for step in range(3):
        state = commit(ref, state, Intent(mode="INCREMENTAL", writer="w", step=step, schema=schema))
    assert state.version == 2 and store.drops == 0
    assert latest_version(TableRef(store.inner, "p", "r", "k")) == 2


WRITER = textwrap.dedent(
    """
    import sys, tablelog
    root, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = tablelog.init(project="p", id="multi", resume="allow", root=root)
    t = tablelog.Table(columns=["writer", "i"], log_mode="INCREMENTAL")
    for i in range(n):
        t.add_data(name, i)
        t.add_data(name, i + 1000)
        run.log({"shared": t})
    run.finish()
    """
)


def test_two_processes_append_to_one_key(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    n = 40
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, root, name, str(n)])
        for name in ("w1", "w2")
    ]
    assert [p.wait(timeout=240) for p in procs] == [0, 0]
    df = tablelog.scan("p/multi/shared", root=root).collect()
    assert df.height == 2 * 2 * n
    assert df.select("writer", "i").n_unique() == df.height
    assert sorted(df["_increment"].unique().to_list()) == list(range(2 * n))
    ref = TableRef(open_store(root), "p", "multi", "shared")
    parent = None
    for n_, (m, digest) in enumerate(read_history(ref, latest_version(ref))):
        assert m.version == n_ and m.parent == parent
        parent = digest


def test_store_without_create_if_absent_fails_closed(tmp_path: Path) -> None:
    root = f"local://{tmp_path}/plain"
    run = tablelog.init(project="p", root=root)
    with pytest.raises(tablelog.UnsafeStoreError, match="single_writer=True"):
        run.log({"t": tablelog.Table(columns=["a"], data=[[1]])})
    single = tablelog.init(project="p", root=root, single_writer=True)
    single.log({"t": tablelog.Table(columns=["a"], data=[[1]])})
    single.finish()
    assert tablelog.scan(f"p/{single.id}/t", root=root).collect().height == 1


def test_a_manifest_readers_would_refuse_is_never_committed(local: Any) -> None:
    # One log listing ~240k media blobs would need a manifest over the size limit
    # readers enforce; committing it would leave an unreadable table.
    store = open_store(local.root)
    ref = TableRef(store, "p", "big", "t")
    media = tuple(f"{i:064x}.png" for i in range(MAX_MANIFEST_BYTES // 70 + 1))
    group = ColumnGroup(object="a" * 64, columns=("img",), size=1, media=media)
    intent = Intent(
        mode="INCREMENTAL",
        writer="w",
        step=0,
        schema=(Column(name="img", kind="str", arrow="string"),),
        add=(NewFragment(rows=len(media), groups=(group,)),),
    )
    with pytest.raises(TableError, match="over the 16,777,216-byte limit"):
        commit(ref, TableState(), intent)
    assert latest_version(ref) == -1
