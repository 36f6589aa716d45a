"""Readers: any version, any step, pushdown into the Parquet scan, history, across runs."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.format.state import CHECKPOINT_EVERY
from tablelog.objects import open_store


def _incremental(where: Any, steps: int, rows: int = 3, **init: Any) -> str:
    with where.init(**init) as run:
        t = tablelog.Table(columns=["step", "x", "label"], log_mode="INCREMENTAL")
        for s in range(steps):
            for i in range(rows):
                t.add_data(s, s * 10.0 + i, f"l{i}")
            run.log({"train": t}, step=2 * s)
    return run.id


def test_every_version_and_step(where: Any) -> None:
    steps = CHECKPOINT_EVERY + 5
    rid = _incremental(where, steps, sync=True)  # (a version per log: their numbers)
    path = f"p/{rid}/train"
    hist = where.history(path)
    assert hist["version"].to_list() == list(range(steps))
    assert hist["step"].to_list() == [2 * s for s in range(steps)]
    assert hist["rows"].to_list() == [3 * (s + 1) for s in range(steps)]
    assert set(hist["mode"]) == {"INCREMENTAL"}
    for v in (0, 1, CHECKPOINT_EVERY - 1, CHECKPOINT_EVERY, steps - 1):
        df = where.scan(path, version=v).collect()
        assert df["step"].to_list() == [s for s in range(v + 1) for _ in range(3)]
        assert df["_increment"].to_list() == df["step"].to_list()
    assert where.scan(path, step=7).collect()["step"].max() == 3
    assert where.scan(path, version=-1).collect().height == 3 * steps
    only = where.scan(path, increment=4).collect()
    assert only["x"].to_list() == [40.0, 41.0, 42.0]
    with pytest.raises(tablelog.NotFoundError, match="no version 999"):
        where.scan(path, version=999)
    with pytest.raises(FileNotFoundError, match=r"no table .nope.*train"):
        where.scan(f"p/{rid}/nope")
    with pytest.raises(tablelog.NotFoundError, match="no run p/missing"):
        where.scan("p/missing/train")


def test_every_increment_and_step_however_the_logs_were_grouped(where: Any) -> None:
    """The same logs without sync: the commit thread may put several in one version
    (group commit, docs/format.md "Format 2"); every log still reads back on its own, at
    its step, and every version is the logs up to the last one it holds."""
    steps = CHECKPOINT_EVERY + 5
    rid = _incremental(where, steps)
    path = f"p/{rid}/train"
    incs = tablelog.history(path, per="increment", **where.kw())
    assert incs["increment"].to_list() == list(range(steps))
    assert incs["step"].to_list() == [2 * s for s in range(steps)]
    assert incs["rows"].to_list() == [3] * steps
    for s in range(steps):
        only = where.scan(path, increment=s).collect()
        assert only["x"].to_list() == [s * 10.0 + i for i in range(3)]
        assert only["_increment"].to_list() == only["step"].to_list() == [s] * 3
        for step in (2 * s, 2 * s + 1):  # the log's step, and one that no log has
            upto = where.scan(path, step=step).collect()
            assert upto["step"].to_list() == [n for n in range(s + 1) for _ in range(3)]
    hist = where.history(path)
    held = incs.group_by("version", maintain_order=True).agg(pl.col("increment").last())
    assert hist["version"].to_list() == held["version"].to_list()
    assert hist["step"].to_list() == [2 * s for s in held["increment"]]
    assert hist["rows"].to_list() == [3 * (s + 1) for s in held["increment"]]
    for v, last in held.iter_rows():
        df = where.scan(path, version=v).collect()
        assert df["_increment"].to_list() == [n for n in range(last + 1) for _ in range(3)]
        assert df["x"].to_list() == [n * 10.0 + i for n in range(last + 1) for i in range(3)]


def test_pushdown_reaches_the_parquet_scan(local: Any) -> None:
    rid = _incremental(local, 5)
    lf = local.scan(f"p/{rid}/train").filter(pl.col("x") > 20).select("x")
    plan = lf.explain()
    scan_part = plan[plan.index("Parquet SCAN") :]
    assert "SELECTION" in scan_part and 'col("x") > 20.0' in scan_part
    assert "PROJECT 1/" in scan_part
    assert lf.collect()["x"].to_list() == [21.0, 22.0, 30.0, 31.0, 32.0, 40.0, 41.0, 42.0]


def test_scan_runs_concatenates_with_run_id(where: Any) -> None:
    ids = [_incremental(where, 2 + i) for i in range(3)]
    df = where.scan_runs("p/*/train").collect()
    assert sorted(set(df["run_id"])) == sorted(ids)
    assert df.height == 3 * (2 + 3 + 4)
    pdf = df.to_pandas()
    assert list(pdf.columns)[-1] == "run_id"


def test_opening_latest_costs_at_most_k_manifests(local: Any) -> None:
    rid = _incremental(local, 3 * CHECKPOINT_EVERY + 7, rows=1)
    store = open_store(local.root)
    fetched: list[int] = []
    original = store.get_many

    def counting(keys: list[str]) -> list[bytes]:
        fetched.append(sum(k.endswith(".json") for k in keys))
        return original(keys)

    from tablelog.format.chain import TableRef, latest_version, load_version

    ref = TableRef(store, "p", rid, "train")
    store.get_many = counting  # type: ignore[method-assign]
    state = load_version(ref, latest_version(ref))
    assert state.rows == 3 * CHECKPOINT_EVERY + 7
    assert sum(fetched) <= CHECKPOINT_EVERY


def test_mutable_versions_share_unchanged_data(local: Any) -> None:
    with local.init() as run:
        t = tablelog.Table(columns=["a"], data=[[i] for i in range(100)], log_mode="MUTABLE")
        run.log({"m": t})
        t.add_column("b", [str(i) for i in range(100)])
        run.log({"m": t})
        run.log({"m": t})  # nothing changed: no new version
        t.add_data(100, "x")
        run.log({"m": t})
    hist = local.history(f"p/{run.id}/m")
    assert hist["rows"].to_list() == [100, 100, 101]
    assert hist["columns"].to_list()[1] == ["a", "b"]
    v1 = local.scan(f"p/{run.id}/m", version=1).collect()
    assert v1["b"].to_list() == [str(i) for i in range(100)]
    assert local.scan(f"p/{run.id}/m").collect().tail(1).to_dicts() == [{"a": 100, "b": "x"}]


def test_immutable_relog_writes_nothing_and_table_is_final(local: Any) -> None:
    with local.init() as run:
        t = tablelog.Table(columns=["a"], data=[[1]])
        run.log({"t": t})
        run.log({"t": t})
        with pytest.raises(tablelog.TableError, match="already logged"):
            t.add_data(2)
    assert local.history(f"p/{run.id}/t").height == 1


def test_summary_none_logs_each_increment_separately(where: Any) -> None:
    with where.init() as run:
        run.define_metric("*", summary="none")
        t = tablelog.Table(columns=["s"], log_mode="INCREMENTAL")
        for s in range(3):
            t.add_data(s)
            t.add_data(s)
            run.log({"inc": t}, step=s)
    for v in range(3):
        assert where.scan(f"p/{run.id}/inc", version=v).collect()["s"].to_list() == [v, v]


def test_steps_only_move_forward(local: Any) -> None:
    with local.init() as run:
        run.log({"loss": 1.0}, step=5)
        with pytest.raises(tablelog.RunError, match="steps only move forward"):
            run.log({"loss": 1.0}, step=4)
        run.log({"loss": 0.5})
    hist = local.scan(f"p/{run.id}/_history").collect()
    assert hist["_step"].to_list() == [5, 6]


def test_resume_modes(local: Any) -> None:
    with pytest.raises(tablelog.RunError, match="does not exist"):
        local.init(id="r1", resume="must")
    local.init(id="r1").finish()
    with pytest.raises(tablelog.RunError, match="already exists"):
        local.init(id="r1", resume="never")
    with pytest.raises(tablelog.RunError, match="already exists"):
        local.init(id="r1")
    run = local.init(id="r1", resume="allow")
    assert run.resumed
    run.finish()


def test_no_secret_in_anything_written(where: Any) -> None:
    with where.init(config={"lr": 0.1}) as run:
        run.log({"t": tablelog.Table(columns=["a"], data=[[1]])})
    store = open_store(where.root, storage_options=where.storage_options)
    secret = (where.storage_options or {}).get("secret", "no-secret-here")
    for key in store.list(""):
        assert secret.encode() not in store.get(key)
    assert secret not in repr(run) and secret not in repr(store)


def test_numbers_widen_and_are_never_truncated(where: Any) -> None:
    with where.init(sync=True) as run:  # (a version per log: version 0 below)
        run.log({"loss": 1})
        run.log({"loss": 0.5})
        t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
        t.add_data(1)
        run.log({"t": t})
        t.add_data(2.5)
        run.log({"t": t})
    assert where.scan(f"p/{run.id}/_history").collect()["loss"].to_list() == [1.0, 0.5]
    assert where.scan(f"p/{run.id}/t").collect()["x"].to_list() == [1.0, 2.5]
    assert where.scan(f"p/{run.id}/t", version=0).collect()["x"].to_list() == [1.0]


def test_read_with_verify_catches_a_tampered_object(where: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with where.init(id="tamper") as run:
        run.log({"t": tablelog.Table(columns=["a"], data=[[1], [2]])})
    assert where.scan("p/tamper/t", verify=True).collect()["a"].to_list() == [1, 2]
    store = open_store(where.root, storage_options=where.storage_options)
    (key,) = [k for k in store.list("objects/") if k.endswith(".parquet")]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"a": [1, 666]}), sink)  # valid Parquet, wrong rows
    store.put(key, sink.getvalue().to_pybytes())
    with pytest.raises(tablelog.FormatError, match=rf"{key}.*version 0 is corrupt"):
        where.scan("p/tamper/t", verify=True)
