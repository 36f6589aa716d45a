"""The run's commit thread writing format 2 (docs/format.md, "Commits"): queued
INCREMENTAL logs of a key coalesce into one commit (group commit), every log is still
an increment that reads back exactly, by number and by step, on a local folder and on
real S3 servers; MUTABLE and IMMUTABLE keep one version per log; a table that is
format 1 stays so."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from format2_writes import schema_of
from where import Where

import tablelog
from tablelog.data.groups import upload_group
from tablelog.errors import InvalidArgumentError
from tablelog.format.chain import WRITE_FORMAT_VARIABLE
from tablelog.format.commit import commit
from tablelog.format.handle import TableHandle, open_table
from tablelog.format.plan import GroupIntent, LogIntent, NewFragment
from tablelog.format.state import TableState
from tablelog.objects.open import open_store
from tablelog.writer.committer import GROUP_LOGS

# Format 2 however the suite was started ($TABLELOG_WRITE_FORMAT=1 make test); a test
# may still set the variable itself.
pytestmark = pytest.mark.usefixtures("write_format_2")

STEPS = 300


def _loop(where: Where, run_id: str, steps: range, *, rows: int = 3) -> tablelog.Table:
    run = where.init(id=run_id, resume="allow")
    table = tablelog.Table(columns=["step", "k", "v"], log_mode="INCREMENTAL")
    for step in steps:
        for k in range(rows):
            table.add_data(step, k, float(step * 10 + k))
        run.log({"eval": table}, step=step)
    run.finish()
    return table


def test_a_fast_loop_coalesces_and_every_log_reads_back(where: Where) -> None:
    table = _loop(where, "r", range(STEPS))
    path = "p/r/eval"
    versions = tablelog.history(path, **where.kw())
    incs = tablelog.history(path, per="increment", **where.kw())
    # How far behind the commit thread was decides the versions; each log is there.
    assert incs["increment"].to_list() == list(range(STEPS))
    assert incs["step"].to_list() == list(range(STEPS))
    assert incs["rows"].to_list() == [3] * STEPS
    assert versions.height <= STEPS
    assert incs["version"].to_list() == sorted(incs["version"].to_list())
    whole = where.scan(path).collect()
    assert whole["step"].to_list() == [s for s in range(STEPS) for _ in range(3)]
    assert whole["_increment"].to_list() == whole["step"].to_list()
    for n in (0, 1, STEPS // 2, STEPS - 1):
        got = where.scan(path, increment=n).collect()
        assert got["v"].to_list() == [n * 10.0, n * 10.0 + 1, n * 10.0 + 2]
    for step in (0, 7, STEPS // 3, STEPS - 2):
        assert where.scan(path, step=step).collect().height == 3 * (step + 1)
    # Every object stores its rows' increments (one log's or a commit's), whether the
    # commit thread kept up or not; no format-2 object leaves them to the manifest.
    state = open_table(path, **where.kw()).state()
    assert all("_increment" in g.columns for f in state.fragments for g in f.groups)
    # The Table let go of committed rows and reads them back from the objects.
    assert table.get_column("v")[-3:] == [(STEPS - 1) * 10.0 + k for k in range(3)]
    assert len(table.data) == 3 * STEPS


def test_logs_queued_behind_a_busy_commit_thread_share_commits(local: Where) -> None:
    """300 logs queued while the commit thread is held: commits of GROUP_LOGS (32, the
    most the commit thread puts in one) and the rest, each one object with
    ``_increment`` and one manifest."""
    run = local.init(id="q")
    gate = threading.Event()
    run._worker.submit(gate.wait)  # (the test holds the commit thread)
    table = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")
    for step in range(STEPS):
        table.add_data(step)
        run.log({"eval": table}, step=step)
    gate.set()
    run.finish()
    sizes = [GROUP_LOGS] * (STEPS // GROUP_LOGS) + [STEPS % GROUP_LOGS]
    assert sizes == [32] * 9 + [12]
    incs = tablelog.history("p/q/eval", per="increment", **local.kw())
    assert incs["version"].value_counts(sort=True, name="n").sort("version")["n"].to_list() == sizes
    assert tablelog.history("p/q/eval", **local.kw()).height == len(sizes)
    assert local.scan("p/q/eval", step=200).collect()["step"].to_list() == list(range(201))
    objects = [p for p in (Path(local.root) / "objects").rglob("*.parquet")]
    assert len(objects) == len(sizes)  # one object per commit
    # The Table let go of the committed rows (one release per object and its
    # increments) and reads them back from the objects.
    assert table._spilled.rows == STEPS
    assert table.get_column("step") == list(range(STEPS))


def test_resume_numbers_on_and_history_coalesces(local: Where) -> None:
    _loop(local, "r", range(50))
    _loop(local, "r", range(50, 80))  # a resumed run continues the same increments
    incs = tablelog.history("p/r/eval", per="increment", **local.kw())
    assert incs["increment"].to_list() == list(range(80))
    assert incs["step"].to_list() == list(range(80))
    run = local.init(id="h")
    for step in range(200):
        run.log({"loss": 1.0 / (step + 1), "acc": step % 7}, step=step)
    run.finish()
    hist = local.scan("p/h/_history").collect()
    assert "_increment" not in hist.columns
    assert hist["_step"].to_list() == list(range(200))
    assert hist["acc"].to_list() == [s % 7 for s in range(200)]
    assert local.scan("p/h/_history", increment=123).collect()["_step"].to_list() == [123]


def test_mutable_and_immutable_keep_one_version_per_log(local: Where) -> None:
    run = local.init(id="m")
    mut = tablelog.Table(columns=["a"], log_mode="MUTABLE")
    for step in range(20):
        mut.add_data(*((step,) if step <= 10 else (step, step)))
        if step == 10:
            mut.add_column("b", list(range(11)))
        run.log({"mut": mut, "imm": tablelog.Table(columns=["x"], data=[[step]])}, step=step)
    run.finish()
    for key in ("mut", "imm"):
        incs = tablelog.history(f"p/m/{key}", per="increment", **local.kw())
        assert incs["version"].to_list() == list(range(20)) == incs["increment"].to_list()
    frame = local.scan("p/m/mut").collect()
    assert frame["a"].to_list() == list(range(20))
    assert frame["b"].to_list() == list(range(20))
    assert local.scan("p/m/imm", step=5).collect()["x"].to_list() == [5]


def test_a_format_1_table_stays_format_1(local: Where, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WRITE_FORMAT_VARIABLE, "1")
    _loop(local, "r", range(5))
    monkeypatch.delenv(WRITE_FORMAT_VARIABLE)
    _loop(local, "r", range(5, 40))
    versions = tablelog.history("p/r/eval", **local.kw())
    assert versions["version"].to_list() == list(range(40))  # one version per log
    assert local.scan("p/r/eval").collect()["step"].n_unique() == 40


def test_media_and_a_widening_schema_in_coalesced_commits(where: Where) -> None:
    """Images (their blobs uploaded with the combined object) read back pixel for pixel;
    logs whose columns differ share a commit in objects of their own."""
    run = where.init(id="img")
    narrow = tablelog.Table(columns=["step", "img"], log_mode="INCREMENTAL")
    wide = tablelog.Table(columns=["step", "img", "extra"], log_mode="INCREMENTAL")
    rng = np.random.default_rng(0)
    pixels = [rng.integers(0, 255, (4, 4, 3), dtype=np.uint8) for _ in range(60)]
    for step, px in enumerate(pixels):
        if step < 30:
            narrow.add_data(step, tablelog.Image(px))
            run.log({"eval": narrow}, step=step)
        else:
            wide.add_data(step, tablelog.Image(px), step / 2)
            run.log({"eval": wide}, step=step)
    run.finish()
    frame = where.scan("p/img/eval").collect()
    assert frame["step"].to_list() == list(range(60))
    assert frame["extra"].to_list() == [None] * 30 + [s / 2 for s in range(30, 60)]
    got = tablelog.media.load_many(frame["img"].to_list(), to="numpy", **where.kw())
    assert all((g == px).all() for g, px in zip(got, pixels, strict=True))
    incs = tablelog.history("p/img/eval", per="increment", **where.kw())
    assert incs["rows"].to_list() == [1] * 60


def test_compaction_keeps_every_increment_readable(local: Where) -> None:
    run = local.init(id="c")
    gate = threading.Event()
    run._worker.submit(gate.wait)  # the first 60 logs share commits
    table = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")
    mut = tablelog.Table(columns=["m"], log_mode="MUTABLE")
    for step in range(120):
        if step == 60:
            gate.set()
            run.flush()
        table.add_data(step)
        if step % 10 == 0:
            mut.add_data(step)
        run.log({"eval": table, "mut": mut, "loss": step / 2}, step=step)
    run.finish()
    kw = local.kw()
    before = {k: local.scan(f"p/c/{k}").collect() for k in ("eval", "mut", "_history")}
    for key in ("eval", "mut", "_history"):
        tablelog.compact(f"p/c/{key}", target_rows=50, **kw)
        assert local.scan(f"p/c/{key}").collect().equals(before[key])
    for n in (0, 33, 59, 60, 119):
        assert local.scan("p/c/eval", increment=n).collect()["step"].to_list() == [n]
        assert local.scan("p/c/_history", increment=n).collect()["_step"].to_list() == [n]
    assert local.scan("p/c/eval", step=77).collect().height == 78
    assert "_increment" not in local.scan("p/c/_history").collect().columns
    with pytest.raises(tablelog.TableError, match="compacted"):
        local.scan("p/c/mut", increment=3).collect()


def test_an_offline_run_syncs_its_logs_in_groups(
    local: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool keeps one entry per log; sync commits the INCREMENTAL logs of a table
    in groups of at most 256 (each log once: a second sync commits nothing); a run
    resumed after the sync groups its own logs on the same numbers."""
    monkeypatch.setenv("TABLELOG_SPOOL", str(tmp_path / "spool"))
    run = local.init(id="off", mode="offline")
    table = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")
    mut = tablelog.Table(columns=["m"], log_mode="MUTABLE")
    for step in range(300):
        table.add_data(step)
        logged: dict[str, Any] = {"eval": table, "loss": step / 2}
        if step in (100, 200):  # a MUTABLE log between them: one version each
            mut.add_data(step)
            logged["mut"] = mut
        run.log(logged, step=step)
    run.finish()
    assert tablelog.sync(tmp_path / "spool") == (602, 0)
    assert tablelog.sync(tmp_path / "spool") == (0, 0)  # each log committed once
    for key in ("eval", "_history"):
        incs = tablelog.history(f"p/off/{key}", per="increment", **local.kw())
        assert incs["increment"].to_list() == list(range(300)) == incs["step"].to_list()
        assert incs["version"].to_list() == [0] * 256 + [1] * 44
    assert tablelog.history("p/off/mut", **local.kw())["step"].to_list() == [100, 200]
    resumed = local.init(id="off", resume="must")
    gate = threading.Event()
    resumed._worker.submit(gate.wait)
    table = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")  # (a new handle
    for step in range(300, 308):  # would log a Table it did not log before whole)
        table.add_data(step)
        resumed.log({"eval": table}, step=step)
    gate.set()
    resumed.finish()
    incs = tablelog.history("p/off/eval", per="increment", **local.kw())
    assert incs["increment"].to_list() == list(range(308)) == incs["step"].to_list()
    assert incs["version"].to_list() == [0] * 256 + [1] * 44 + [2] * 8
    assert local.scan("p/off/eval").collect()["step"].to_list() == list(range(308))
    assert local.scan("p/off/eval", increment=299).collect()["step"].to_list() == [299]
    assert tablelog.verify(**local.kw(), deep=True).ok


def _mixed_run(where: Where) -> None:
    """A run with coalesced INCREMENTAL logs (one object per commit and objects
    of their own), _history, MUTABLE with add_column, images; then a compaction."""
    run = where.init(id="mx")
    gate = threading.Event()
    run._worker.submit(gate.wait)
    table = tablelog.Table(columns=["step", "img"], log_mode="INCREMENTAL")
    mut = tablelog.Table(columns=["m"], log_mode="MUTABLE")
    rng = np.random.default_rng(1)
    for step in range(80):
        if step == 40:
            gate.set()
            run.flush()
        table.add_data(step, tablelog.Image(rng.integers(0, 255, (2, 2, 3), dtype=np.uint8)))
        if step % 20 == 0:
            mut.add_data(step)
        run.log({"eval": table, "mut": mut, "loss": step / 3}, step=step)
    mut.add_column("n", [str(i) for i in range(4)])
    run.log({"mut": mut}, step=80)
    run.finish()
    tablelog.compact("p/mx/_history", **where.kw())


def test_verify_and_gc_know_format_2(where: Where) -> None:
    _mixed_run(where)
    kw = where.kw()
    before = {k: where.scan(f"p/mx/{k}").collect() for k in ("eval", "mut", "_history")}
    report = tablelog.verify(**kw, deep=True)
    assert report.ok, report.problems
    gc = tablelog.gc(**kw, min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True)
    assert gc.lost == ()
    tablelog.clear_caches()
    for key, frame in before.items():
        assert where.scan(f"p/mx/{key}").collect().equals(frame)
    for v in range(tablelog.history("p/mx/eval", **kw).height):
        where.scan("p/mx/eval", version=v).collect()  # every version's objects are kept
    assert tablelog.verify(**kw, deep=True).ok


def test_verify_and_gc_of_a_reader_that_predates_format_2(
    local: Where, monkeypatch: pytest.MonkeyPatch
) -> None:
    """To a release that predates format 2, format 2 is what a newer tablelog wrote:
    verify reports each manifest (upgrade tablelog) and gc deletes nothing."""
    _mixed_run(local)
    from tablelog.format import manifest

    monkeypatch.setattr(manifest, "READ_FORMAT", 1)
    tablelog.clear_caches()
    kw = local.kw()
    report = tablelog.verify(**kw)
    assert not report.ok
    assert all("upgrade tablelog" in p.message for p in report.problems)
    objects = sorted(Path(local.root).rglob("objects/*/*"))
    with pytest.raises(tablelog.TablelogError, match="upgrade tablelog"):
        tablelog.gc(**kw, min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True)
    assert sorted(Path(local.root).rglob("objects/*/*")) == objects


def test_verify_reports_a_range_whose_object_has_no_increment_column(local: Where) -> None:
    ref = TableHandle(open_store(local.root), "p", "r", "eval")
    rows = pa.table({"i": pa.array([1, 2, 3], pa.int64())})
    frag = NewFragment(rows=3, groups=(upload_group(ref, rows),), increment=0, last_increment=1)
    logs = tuple(
        LogIntent(log_id=f"{n:032x}", step=n, time=1.0, schema=schema_of(rows), combined_rows=r)
        for n, r in ((0, 2), (1, 1))
    )
    commit(ref, TableState(), GroupIntent(mode="INCREMENTAL", writer="t", logs=logs,
                                          combined=(frag,)))  # fmt: skip
    problems = tablelog.verify(**local.kw()).problems
    assert any("stores no _increment" in p.message for p in problems), problems


def test_verify_deep_reports_increments_outside_their_fragment(local: Where) -> None:
    ref = TableHandle(open_store(local.root), "p", "r", "eval")
    rows = pa.table({"i": pa.array([1, 2, 3], pa.int64())})
    tagged = rows.append_column("_increment", pa.array([0, 1, 7], pa.int64()))
    frag = NewFragment(rows=3, groups=(upload_group(ref, tagged),), increment=0, last_increment=1)
    logs = tuple(
        LogIntent(log_id=f"{n:032x}", step=n, time=1.0, schema=schema_of(rows), combined_rows=r)
        for n, r in ((0, 2), (1, 1))
    )
    commit(ref, TableState(), GroupIntent(mode="INCREMENTAL", writer="t", logs=logs,
                                          combined=(frag,)))  # fmt: skip
    shallow = tablelog.verify(**local.kw()).problems  # the manifest alone is consistent
    assert [p.message for p in shallow] == ["run p/r has tables but no run.json"]
    problems = tablelog.verify(**local.kw(), deep=True).problems
    assert any("increments 0..7" in p.message for p in problems), problems


def test_cli_history_lists_increments(local: Where, capsys: pytest.CaptureFixture[str]) -> None:
    from tablelog.cli import main

    run = local.init(id="cli")
    gate = threading.Event()
    run._worker.submit(gate.wait)
    table = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")
    for step in range(4):
        table.add_data(step)
        run.log({"eval": table}, step=step * 10)
    gate.set()
    run.finish()
    capsys.readouterr()
    assert main(["--root", local.root, "history", "p/cli/eval"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1  # one commit
    assert main(["--root", local.root, "history", "p/cli/eval", "--increments"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[:4] for line in lines] == [
        [str(n), f"step {n * 10}", "1 row(s)", "version 0"] for n in range(4)
    ]
    assert main(["--root", local.root, "history", "p/cli/eval", "--increments", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["increment"] for r in records] == [0, 1, 2, 3]


def test_a_bad_write_format_is_refused_by_init(
    local: Where, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``$TABLELOG_WRITE_FORMAT`` is 1 or 2: anything else is refused when the run
    starts, naming the variable, before anything is written."""
    for bad in ("3", "0", "two", " 1"):
        monkeypatch.setenv(WRITE_FORMAT_VARIABLE, bad)
        with pytest.raises(InvalidArgumentError, match="TABLELOG_WRITE_FORMAT"):
            local.init(id="bad")
    assert not list(Path(local.root).rglob("*.json"))
    for fmt, run_id in (("2", "two"), ("1", "one")):
        monkeypatch.setenv(WRITE_FORMAT_VARIABLE, fmt)
        _loop(local, run_id, range(3))
        v0 = Path(local.root, f"projects/p/runs/{run_id}/tables/eval/versions/{0:020d}.json")
        assert json.loads(v0.read_text())["format_version"] == int(fmt)
