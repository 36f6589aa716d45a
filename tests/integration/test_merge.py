"""A writer merges its own small INCREMENTAL fragments at checkpoint versions; every
version reads exactly as it would without the merge (docs/format.md, "Merged fragments")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
import scale

import tablelog
from tablelog.format.chain import STATES, TableRef, load_version, write_format
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.state import CHECKPOINT_EVERY
from tablelog.objects.open import open_store
from tablelog.read.diff import diff
from tablelog.writer import merge

STEPS = 3 * CHECKPOINT_EVERY + 5  # 101: three merges


def _rows(step: int) -> list[list[Any]]:
    """Two rows a step; ``extra`` from step 40 on; ``score`` turns float at 50."""
    out = []
    for j in range(2):
        row: list[Any] = [
            step * 10 + j,
            step * 10 + j if step < 50 else step + j / 4,
            f"s{step}-{j}" if j else None,
            np.arange(3, dtype=np.float32) + step,
            {"k": step, "v": [j]},
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=step),
            tablelog.Image(np.full((2, 3), step, dtype=np.uint8)) if j == 0 else None,
        ]
        if step >= 40:
            row.append(step % 3 == 0)
        out.append(row)
    return out


COLUMNS = ["i", "score", "name", "emb", "meta", "t", "img"]


def _log(where: Any, run_id: str) -> tablelog.Table:
    """Steps 0-39 from one Table; from 40 on a new Table with one more column.

    sync=True: one version per log. In format 2 a group commit (several logs in one
    version) stops the writer's merge until the next checkpoint (docs/format.md, "Format
    2", step 4), so the merges these tests check need one log per version."""
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    with where.init(id=run_id, sync=True) as run:
        for step in range(STEPS):
            if step == 40:
                table = tablelog.Table(columns=[*COLUMNS, "extra"], log_mode="INCREMENTAL")
            for row in _rows(step):
                table.add_data(*row)
            run.log({"inc": table, "loss": step / 2}, step=step)
    return table


def _ref(where: Any, path: str) -> TableRef:
    project, run_id, key = path.split("/", 2)
    return TableRef(open_store(**where.kw()), project, run_id, key)


@pytest.mark.slow
@pytest.mark.scaled
@pytest.mark.parametrize(
    "kind",
    [
        "local",
        "memory",
        pytest.param("seaweedfs", marks=pytest.mark.s3),
        # Two more S3 servers add nothing the merge logic sees, and cost a minute each:
        # only in CI's full-scale pass.
        pytest.param("moto", marks=[pytest.mark.s3, pytest.mark.full_scale_only]),
        pytest.param(
            "localstack",
            marks=[pytest.mark.s3, pytest.mark.localstack, pytest.mark.full_scale_only],
        ),
    ],
)
def test_every_version_reads_as_without_merging(
    kind: str, make_root: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = make_root(kind)
    table = _log(where, "merged")
    with monkeypatch.context() as m:
        m.setattr(merge, "MERGE_MAX_BYTES", 0)  # every window over the cap: no merge
        _log(where, "plain")
    merged, plain = _ref(where, "p/merged/inc"), _ref(where, "p/plain/inc")

    # The merging chain: at each checkpoint the 31 fragments logged since the last one
    # become one object storing _increment, and the log's own fragment follows it.
    fv2 = write_format() == 2
    for v in (CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY, 3 * CHECKPOINT_EVERY):
        manifest, _ = merged.read_manifest(v)
        assert len(manifest.change.remove) == CHECKPOINT_EVERY - 1
        first, own = manifest.change.add
        assert INCREMENT_COLUMN in first.groups[0].columns and first.rows == 62
        assert own.increment == v
        if fv2:
            # Format 2: the merged fragment records its range of increments, and every
            # object stores _increment, the log's own too (docs/format.md, "Fragments").
            assert (first.increment, first.last_increment) == (v - CHECKPOINT_EVERY + 1, v - 1)
            assert INCREMENT_COLUMN in own.groups[0].columns and own.last_increment == v
        else:
            assert INCREMENT_COLUMN not in own.groups[0].columns
        assert plain.read_manifest(v)[0].change.remove == ()
    latest_m, latest_p = load_version(merged, STEPS - 1), load_version(plain, STEPS - 1)
    assert len(latest_p.fragments) == STEPS
    assert len(latest_m.fragments) == 1 + 3 * 2 + 4  # v0, (merged, own) x 3, v97..v100
    assert latest_m.rows == latest_p.rows == 2 * STEPS

    # Every version at full scale (CI); else the versions around each checkpoint.
    edges = {0, 1, STEPS - 1} | {c * CHECKPOINT_EVERY + d for c in (1, 2, 3) for d in (-1, 0, 1)}
    for v in range(STEPS) if scale.FULL else sorted(v for v in edges if 0 <= v < STEPS):
        STATES.clear()
        got = where.scan("p/merged/inc", version=v).collect()
        want = where.scan("p/plain/inc", version=v).collect()
        assert got.equals(want), v
    history = where.scan("p/merged/_history").collect()  # never merged (read untagged)
    assert history.drop("_time").equals(where.scan("p/plain/_history").collect().drop("_time"))
    assert len(load_version(_ref(where, "p/merged/_history"), STEPS - 1).fragments) == STEPS
    # The Table (its committed rows released) still reads back whole.
    since_40 = where.scan("p/plain/inc").collect().filter(pl.col("_increment") >= 40)
    for column in ("i", "score", "name", "extra"):
        assert table.get_column(column) == since_40[column].to_list(), column


def test_selectors_history_diff_verify_and_gc_after_merges(local: Any) -> None:
    _log(local, "r")
    path = "p/r/inc"
    for inc in (0, 5, 31, 32, 33, 64, 90, 100):
        rows = local.scan(path, increment=inc).collect()
        assert rows["i"].to_list() == [inc * 10, inc * 10 + 1], inc
        assert rows[INCREMENT_COLUMN].to_list() == [inc, inc]
    assert local.scan(path, increment=10, version=20).collect().height == 2
    for step in (0, 31, 32, 50, 63, 64, 100):
        got = local.scan(path, step=step).collect()
        assert got[INCREMENT_COLUMN].to_list() == [s for s in range(step + 1) for _ in "ab"]
    # (format 1: "has no increment 500"; format 2: "has increments 0..100, not 500")
    with pytest.raises(tablelog.NotFoundError, match=r"no increment 500|0\.\.100, not 500"):
        local.scan(path, increment=500)
    hist = local.history(path)
    assert hist["rows"].to_list() == [2 * (v + 1) for v in range(STEPS)]
    assert hist["added_rows"].to_list() == [2] * STEPS  # merge versions too
    assert local.scan("p/r/_history", increment=33).collect()["_step"].to_list() == [33]
    assert diff("p/r/_history", 20, 69, **local.kw()).rows_added == 49
    d = diff(path, 20, 70, **local.kw())
    assert d.increments_added == tuple((i, 2) for i in range(21, 71))
    back = diff(path, 70, 20, **local.kw())
    assert back.increments_removed == d.increments_added
    report = tablelog.verify(root=local.root, deep=True)
    assert report.problems == [] or report.problems == ()
    gc = tablelog.gc(root=local.root, min_age=dt.timedelta(0))
    assert list(gc.garbage) == []  # merged-away objects stay: older versions list them


def test_no_merge_when_another_writer_appended(local: Any) -> None:
    """Two writers alternating on one key: the fragments after a checkpoint are never
    all one writer's, so nobody merges; rows stay in log order."""
    a, b = local.init(id="r"), local.init(id="r", resume="allow")
    ta = tablelog.Table(columns=["who", "n"], log_mode="INCREMENTAL")
    tb = tablelog.Table(columns=["who", "n"], log_mode="INCREMENTAL")
    for n in range(2 * CHECKPOINT_EVERY + 3):
        run, t, who = (a, ta, "a") if n % 2 == 0 else (b, tb, "b")
        t.add_data(who, n)
        run.log({"inc": t}, step=n)
        run.flush()
    a.finish()
    b.finish()
    ref = _ref(local, "p/r/inc")
    state = load_version(ref, 2 * CHECKPOINT_EVERY + 2)
    assert len(state.fragments) == 2 * CHECKPOINT_EVERY + 3
    assert local.scan("p/r/inc").collect()["n"].to_list() == list(range(2 * CHECKPOINT_EVERY + 3))


def test_large_logs_are_not_merged(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge, "MERGE_MAX_BYTES", 5_000)
    with local.init(id="r", sync=True) as run:  # one version per log, as _log
        t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
        for step in range(CHECKPOINT_EVERY + 1):
            t.add_data(np.zeros(64, dtype=np.float64) + step)  # ~520 bytes a log
            run.log({"inc": t}, step=step)
    ref = _ref(local, "p/r/inc")
    assert ref.read_manifest(CHECKPOINT_EVERY)[0].change.remove == ()
    assert len(load_version(ref, CHECKPOINT_EVERY).fragments) == CHECKPOINT_EVERY + 1


def test_sync_commits_merge_too(local: Any) -> None:
    with local.init(id="r", sync=True) as run:
        t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
        for step in range(CHECKPOINT_EVERY + 1):
            t.add_data(step)
            run.log({"inc": t}, step=step)
    ref = _ref(local, "p/r/inc")
    assert len(ref.read_manifest(CHECKPOINT_EVERY)[0].change.remove) == CHECKPOINT_EVERY - 1
    got = local.scan("p/r/inc").collect()
    assert got.equals(
        pl.DataFrame(
            {"x": range(CHECKPOINT_EVERY + 1), INCREMENT_COLUMN: range(CHECKPOINT_EVERY + 1)},
            schema={"x": pl.Int64, INCREMENT_COLUMN: pl.Int64},
        )
    )


def test_compaction_overtaken_by_a_merge_still_commits(local: Any) -> None:
    """While compact() writes its objects the writer logs past a checkpoint, merging
    fragments compaction read: compaction re-lists the merge's fragments instead."""
    run = local.init(id="r", sync=True)  # one version per log, as _log
    t = tablelog.Table(columns=["n"], log_mode="INCREMENTAL")

    def log(steps: range) -> None:
        for step in steps:
            t.add_data(step)
            run.log({"inc": t}, step=step)
        run.flush()

    log(range(20))
    overtaken = []

    def progress(what: str, done: int, total: int) -> None:
        if what == "write objects" and not overtaken:
            log(range(20, 40))  # version 32 merges 21..31, 8 of them compacted
            overtaken.append(True)

    done = tablelog.compact("p/r/inc", **local.kw(), progress=progress)
    assert overtaken and done.compacted and done.version == 40
    run.finish()
    got = local.scan("p/r/inc").collect()
    assert got["n"].to_list() == list(range(40))
    assert got[INCREMENT_COLUMN].to_list() == list(range(40))
    assert tablelog.verify(root=local.root, deep=True).problems in ([], ())


def test_a_run_keeps_one_budget_of_rows_for_merging(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(merge, "MERGE_MAX_BYTES", 40 * 520)  # ~40 logs of 64 doubles
    with local.init(id="r", sync=True) as run:  # one version per log, as _log
        tables = {k: tablelog.Table(columns=["x"], log_mode="INCREMENTAL") for k in "ab"}
        for step in range(CHECKPOINT_EVERY + 1):
            for key, t in tables.items():
                t.add_data(np.zeros(64) + step)
                run.log({key: t}, step=step)
            held = run._merge_budget.held
            assert held <= merge.MERGE_MAX_BYTES
    assert run._merge_budget.held == 0  # finish() let go of the rows
    merged = [
        bool(_ref(local, f"p/r/{k}").read_manifest(CHECKPOINT_EVERY)[0].change.remove) for k in "ab"
    ]
    assert sorted(merged) == [False, True]  # one window went over the shared budget
