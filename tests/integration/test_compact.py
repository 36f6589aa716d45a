"""Compaction: few large objects, same rows in the same order, old versions untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tablelog
from tablelog.format.chain import write_format
from tablelog.maintenance.compact import compact


def test_compact_incremental_keeps_rows_order_and_increments(where: Any) -> None:
    # sync=True: one version per log (no group commit), so the version numbers below hold.
    run = where.init(id="c", sync=True)
    t = tablelog.Table(columns=["step", "x"], log_mode="INCREMENTAL")
    for s in range(40):
        t.add_data(s, s * 0.5)
        t.add_data(s, s * 0.5 + 0.25)
        run.log({"t": t}, step=s)
    run.flush()
    path = "p/c/t"
    before = where.scan(path).collect()
    old_v10 = where.scan(path, version=10).collect()
    result = compact(path, **where.kw(), target_rows=30)
    assert result.compacted and result.version == 40
    # v0, v1-31 merged by the writer at checkpoint 32 (docs/format.md), v32 ... v39.
    assert (result.fragments_before, result.fragments_after) == (10, 3)
    after = where.scan(path).collect()
    assert after.equals(before)
    assert where.scan(path, version=10).collect().equals(old_v10)
    assert where.scan(path, increment=7).collect()["x"].to_list() == [3.5, 3.75]
    assert where.scan(path, step=39).collect().equals(before)
    # The same run keeps appending on top of the compacted version.
    t.add_data(40, 20.0)
    run.log({"t": t}, step=40)
    run.finish()
    latest = where.scan(path).collect()
    assert latest.height == 81
    # The log after the compaction (version 40) is version 41; its `_increment` is the
    # version in format 1, the increment number (40: the compaction adds none) in format 2.
    last = 41 if write_format() == 1 else 40
    assert latest.tail(1).to_dicts() == [{"step": 40, "x": 20.0, "_increment": last}]
    assert latest.head(80).equals(before)
    hist = where.history(path)
    assert hist["rows"].to_list()[-2:] == [80, 81]
    logs = tablelog.history(path, per="increment", **where.kw())
    assert logs["increment"].to_list() == [*range(40), last]
    assert logs["version"].to_list() == [*range(40), 41]
    assert compact(path, **where.kw(), min_fragments=10).compacted is False


def test_compact_mutable_column_groups(local: Any) -> None:
    with local.init(id="m", sync=True) as run:
        t = tablelog.Table(columns=["a"], data=[[i] for i in range(10)], log_mode="MUTABLE")
        run.log({"m": t})
        t.add_column("b", [str(i) for i in range(10)])
        run.log({"m": t})
        t.add_data(10, "ten")
        run.log({"m": t})
    before = local.scan("p/m/m").collect()
    result = compact("p/m/m", **local.kw())
    assert result.fragments_after == 1
    assert local.scan("p/m/m").collect().equals(before)
    assert local.scan("p/m/m", version=1).collect()["b"].to_list() == [str(i) for i in range(10)]
    assert "_increment" not in local.scan("p/m/m").collect_schema()


def test_compact_after_writer_appended_is_rebased(local: Any) -> None:
    a = local.init(id="r", sync=True)
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    for i in range(5):
        t.add_data(i)
        a.log({"t": t})
    compact("p/r/t", **local.kw())
    t.add_data(5)
    a.log({"t": t})  # a's view predates the compaction: it rebases
    a.finish()
    df = local.scan("p/r/t").collect()
    assert df["i"].to_list() == list(range(6))
    # The rebased log is version 6, on top of the compaction (version 5): `_increment` is
    # that version in format 1, its increment number in format 2 (a compaction adds none).
    rebased = 6 if write_format() == 1 else 5
    assert df["_increment"].to_list() == [0, 1, 2, 3, 4, rebased]
    logs = tablelog.history("p/r/t", per="increment", **local.kw())
    assert logs["increment"].to_list() == [0, 1, 2, 3, 4, rebased]
    assert logs["version"].to_list() == [0, 1, 2, 3, 4, 6]
    with pytest.raises(ValueError, match="target_rows"):
        compact("p/r/t", **local.kw(), target_rows=0)


def test_compact_at_finish_above_a_fragment_count(where: Any) -> None:
    # sync=True: one version (one fragment) per log, so `big` has 25 fragments at finish.
    run = where.init(id="auto", compact_at=20, sync=True)
    big = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    small = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    for s in range(25):
        big.add_data(s)
        if s < 5:
            small.add_data(s)
            run.log({"small": small}, step=s)
        run.log({"big": big}, step=s)
    run.finish()
    hist = where.history("p/auto/big")
    assert hist.height == 26  # 25 logs + the compaction
    assert hist["rows"].to_list()[-2:] == [25, 25]
    frame = where.scan("p/auto/big").collect()
    assert frame["i"].to_list() == list(range(25))
    assert frame["_increment"].to_list() == list(range(25))
    assert where.scan("p/auto/big", version=24).collect().equals(frame)
    assert tablelog.verify(**where.kw()).ok
    assert where.history("p/auto/small").height == 5  # 5 fragments < 20: left alone


@pytest.mark.parametrize("bad", [0, 1, -5, 2.5, True, "10"])
def test_compact_at_must_be_a_count(local: Any, bad: Any) -> None:
    with pytest.raises(tablelog.RunError, match="compact_at must be a whole number >= 2"):
        local.init(id="bad", compact_at=bad)
    assert not list(Path(local.root).rglob("*.json"))  # no run was created


def test_compacted_objects_are_cut_into_row_groups_for_parallel_reads(local: Any) -> None:
    import pyarrow.parquet as pq

    from tablelog.data.parquet import read_group_rows
    from tablelog.format.chain import TableRef, latest_version, load_version
    from tablelog.objects import open_store

    assert [read_group_rows(n) for n in (0, 1, 4095, 8192, 10_000, 100_000)] == [
        1, 1, 4095, 4096, 5000, 12_500,
    ]  # fmt: skip
    assert read_group_rows(10_000_000) == 1024 * 1024  # never above the usual size
    run = local.init(id="rg")
    t = tablelog.Table(columns=["step", "x"], log_mode="INCREMENTAL")
    for s in range(100):
        for i in range(100):
            t.add_data(s, s + i / 100)
        run.log({"t": t}, step=s)
    run.finish()
    before = local.scan("p/rg/t").collect()
    done = compact("p/rg/t", **local.kw())
    assert done.fragments_after == 1
    assert local.scan("p/rg/t").collect().equals(before)
    ref = TableRef(open_store(local.root), "p", "rg", "t")
    (frag,) = load_version(ref, latest_version(ref)).fragments
    meta = pq.ParquetFile(Path(local.root, "objects", frag.groups[0].object[:2],
                               f"{frag.groups[0].object}.parquet")).metadata  # fmt: skip
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [5000, 5000]


def test_compact_racing_add_column_starts_over(local: Any) -> None:
    """A MUTABLE writer adds a column while compaction reads the rows: the compaction's
    commit must not replace the fragments with objects that lack the column."""
    run = local.init(id="race", sync=True)
    t = tablelog.Table(columns=["a"], log_mode="MUTABLE")
    for i in range(4):
        t.add_data(i)
        run.log({"m": t})
    raced: list[int] = []

    def add_column_once(what: str, done: int, total: int) -> None:
        if what == "read fragments" and done == total and not raced:
            raced.append(1)
            t.add_column("b", [str(i) for i in range(4)])
            run.log({"m": t})

    result = compact("p/race/m", **local.kw(), progress=add_column_once)
    run.finish()
    assert raced and result.compacted
    df = local.scan("p/race/m").collect()
    assert df["a"].to_list() == [0, 1, 2, 3]
    assert df["b"].to_list() == ["0", "1", "2", "3"]
    assert tablelog.verify(root=local.root, deep=True).ok


def test_add_column_after_compaction_lands_on_the_compacted_rows(local: Any) -> None:
    """A MUTABLE writer whose fragments a compaction replaced adds its new column to
    the fragments that hold its rows now, instead of failing (or losing the column)."""
    run = local.init(id="after", sync=True)
    t = tablelog.Table(columns=["a"], log_mode="MUTABLE")
    for i in range(3):
        t.add_data(i)
        run.log({"m": t})
    assert compact("p/after/m", **local.kw()).compacted
    t.add_column("b", ["0", "1", "2"])
    run.log({"m": t})
    t.add_data(3, "3")
    run.log({"m": t})
    t.add_column("c", [0.0, 1.0, 2.0, 3.0])
    run.log({"m": t})
    run.finish()
    df = local.scan("p/after/m").collect()
    assert df.to_dict(as_series=False) == {
        "a": [0, 1, 2, 3],
        "b": ["0", "1", "2", "3"],
        "c": [0.0, 1.0, 2.0, 3.0],
    }
    assert tablelog.verify(root=local.root, deep=True).ok


def test_files_of_a_version_with_added_columns_is_refused_until_compacted(local: Any) -> None:
    """Each column group is an object of its own holding the same rows: listed as files,
    a Parquet reader would get every row once per object."""
    import polars as pl

    with local.init(id="f", sync=True) as run:
        t = tablelog.Table(columns=["a"], data=[[i] for i in range(100)], log_mode="MUTABLE")
        run.log({"m": t})
        t.add_column("b", [str(i) for i in range(100)])
        run.log({"m": t})
    urls, _ = tablelog.files("p/f/m", **local.kw(), version=0)
    assert len(urls) == 1
    with pytest.raises(tablelog.TableError, match="tablelog compact p/f/m"):
        tablelog.files("p/f/m", **local.kw())
    compact("p/f/m", **local.kw())
    urls, schema = tablelog.files("p/f/m", **local.kw())
    df = pl.concat([pl.read_parquet(u) for u in urls])
    assert df.height == 100 and list(schema) == ["a", "b"]
    assert df.equals(local.scan("p/f/m").collect())
