"""Sharded tables: many processes log one table, each to its own chain; read as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog import InvalidNameError, NotFoundError, RunError
from tablelog.cli.main import main as cli
from tablelog.format import paths
from tablelog.format.chain import TableRef, find_shards, latest_version, read_history
from tablelog.objects.open import open_store

# One rank of a job: RANK/WORLD_SIZE come from the launcher, the run id is the job's.
# sync=True: one version per log (no group commit in format 2), as the test counts them.
RANK = textwrap.dedent(
    """
    import json, sys, tablelog
    root, steps = sys.argv[1], int(sys.argv[2])
    opts = json.loads(sys.argv[3])
    run = tablelog.init(project="p", id="job", root=root, storage_options=opts, sync=True)
    assert run.shard is not None
    rank = int(run.shard.split("-")[1])
    t = tablelog.Table(columns=["rank", "i", "step"], log_mode="INCREMENTAL")
    for step in range(steps):
        for j in range(3):
            t.add_data(rank, step * 3 + j, step)
        run.log({"eval": t, "loss": rank + step / 100}, step=step)
    run.finish()
    """
)


def _launch(where: Any, ranks: int, steps: int) -> None:
    procs = []
    for rank in range(ranks):
        env = {**os.environ, **where.env, "RANK": str(rank), "WORLD_SIZE": str(ranks)}
        opts = json.dumps(where.storage_options)
        cmd = [sys.executable, "-c", RANK, where.root, str(steps), opts]
        procs.append(subprocess.Popen(cmd, env=env))
    assert [p.wait(timeout=600) for p in procs] == [0] * ranks


@pytest.mark.parametrize(
    "kind",
    [
        "local",
        # 6 rank processes against moto (pure Python) take ~1.5 min: CI's full pass only
        pytest.param("moto", marks=[pytest.mark.s3, pytest.mark.full_scale_only]),
        pytest.param("seaweedfs", marks=pytest.mark.s3),
    ],
)
def test_ranks_log_one_table_without_contention(
    kind: str, make_root: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    where = make_root(kind)
    ranks, steps = 6, 8
    _launch(where, ranks, steps)
    store = open_store(**where.kw())
    shards = [f"rank-{r:05d}" for r in range(ranks)]
    assert find_shards(store, "p", "job", "eval") == shards

    # Every row exactly once, shards in id order, each shard's rows in log order.
    df = where.scan("p/job/eval").collect()
    assert df.height == ranks * steps * 3
    assert df.select("rank", "i").n_unique() == df.height
    assert df["_shard"].to_list() == [s for s in shards for _ in range(steps * 3)]
    for r in range(ranks):
        mine = df.filter(pl.col("rank") == r)
        assert mine["i"].to_list() == list(range(steps * 3))
        assert mine["_increment"].to_list() == [i // 3 for i in range(steps * 3)]

    # Each shard is one linear chain with no lost race: one version per log.
    for shard in shards:
        ref = TableRef(store, "p", "job", paths.shard_key(shard, "eval"))
        chain = read_history(ref, latest_version(ref))
        assert [m.version for m, _ in chain] == list(range(steps))
        assert all(m.parent == prev for (m, _), (_, prev) in zip(chain[1:], chain, strict=False))

    # step= selects every shard at that step: "all that every rank logged up to s".
    for s in range(steps):
        at = where.scan("p/job/eval", step=s).collect()
        assert at.sort("rank", "i").equals(df.filter(pl.col("step") <= s).sort("rank", "i"))
    with pytest.raises(NotFoundError, match="at or before step -1"):
        where.scan("p/job/eval", step=-1)

    # One shard's chain by its own version numbers.
    one = where.scan("p/job/eval", shard="rank-00002", version=3).collect()
    assert one["rank"].unique().to_list() == [2] and one.height == 12
    assert set(one["_shard"]) == {"rank-00002"}
    assert where.scan("p/job/eval", shard="rank-00002", increment=5).collect()["i"].to_list() == [
        15,
        16,
        17,
    ]

    hist = where.history("p/job/eval")
    assert hist.height == ranks * steps and set(hist["shard"]) == set(shards)
    assert (
        hist.group_by("shard").agg(pl.col("version").max())["version"].to_list()
        == [steps - 1] * ranks
    )
    scalars = where.scan("p/job/_history").collect()
    assert scalars.height == ranks * steps and scalars.select("_shard", "_step").n_unique() == 48

    urls, schema = tablelog.files("p/job/eval", **where.kw())
    assert len(urls) == ranks * steps and list(schema) == ["rank", "i", "step"]
    assert where.scan_runs("p/*/eval").collect().height == df.height

    # The command line sees one table; maintenance works shard by shard as before.
    root = ["--root", where.root]
    if kind == "local":
        assert cli(["ls", "p/job", "--json", *root]) == 0
        listed = {t["key"]: t for t in json.loads(capsys.readouterr().out)}
        assert sorted(listed) == ["_history", "eval"]
        assert listed["eval"]["shards"] == ranks and listed["eval"]["rows"] == df.height
        assert listed["eval"]["versions"] == ranks * steps
        assert cli(["verify", *root]) == 0
        assert cli(["gc", "--min-age-hours", "0", "--delete", "--allow-short-grace", *root]) == 0
        assert "deleted 0 object(s)" in capsys.readouterr().out
        assert where.scan("p/job/eval").collect().equals(df)


def test_selectors_that_name_one_chain_are_refused(local: Any) -> None:
    for r in range(2):
        with local.init(id="job", shard=f"s{r}") as run:
            t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
            t.add_data(r)
            run.log({"eval": t}, step=0)
    with pytest.raises(
        ValueError, match=r"sharded \(2 shards: s0, s1\).*shard=\.\.\. with version="
    ):
        local.scan("p/job/eval", version=0)
    with pytest.raises(ValueError, match="increment="):
        local.scan("p/job/eval", increment=0)
    with pytest.raises(NotFoundError, match=r"has no table|no version"):
        local.scan("p/job/eval", shard="s9")
    # one shard by its own path (the union's compaction: test_shard_union.py)
    assert tablelog.compact("p/job/_shard/s0/eval", **local.kw()).fragments_after == 1


def test_a_table_is_sharded_or_not_never_both(local: Any) -> None:
    with local.init(id="a") as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t.add_data(1)
        run.log({"plain": t})
    with (
        pytest.raises(RunError, match="logged without a shard"),
        local.init(id="a", shard="r1") as run,
    ):
        run.log({"plain": t})
    with local.init(id="a", shard="r1") as run:
        run.log({"sharded": t})
    with pytest.raises(RunError, match="is sharded"), local.init(id="a", resume="allow") as run:
        run.log({"sharded": t})
    assert local.scan("p/a/plain").collect()["i"].to_list() == [1]
    assert local.scan("p/a/sharded").collect()["i"].to_list() == [1]


def test_shard_ids_from_the_launcher_or_given(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: nothing to shard
    assert local.init(id="one").shard is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert local.init(id="many").shard == "rank-00003"
    assert local.init(id="other", shard=False).shard is None
    monkeypatch.setenv("TABLELOG_SHARD", "host-a")
    assert local.init(id="many").shard == "host-a"
    with pytest.raises(InvalidNameError, match="shard"):
        local.init(id="bad", shard="a/b")
    with pytest.raises(RunError, match="shard must be"):
        local.init(id="bad", shard=True)


def test_a_shard_marked_but_never_committed_is_skipped(local: Any) -> None:
    with local.init(id="job", shard="ok") as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t.add_data(1)
        run.log({"eval": t})
    store = open_store(**local.kw())
    # A writer that died between its marker and its first version.
    store.put_if_absent(paths.shard_marker_key("p", "job", "eval", "dead"), b"")
    assert find_shards(store, "p", "job", "eval") == ["dead", "ok"]
    assert local.scan("p/job/eval").collect()["_shard"].to_list() == ["ok"]


def test_a_sharded_spool_pushed_by_sync_lands_in_its_shard(
    local: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLELOG_SPOOL", str(tmp_path / "spool"))
    with local.init(id="job", shard="r0") as run:
        t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
        t.add_data(1)
        run.log({"eval": t}, step=0)
    run = local.init(id="job", shard="r1")
    t = tablelog.Table(columns=["x"], log_mode="INCREMENTAL")
    t.add_data(2)
    keylog, committer = run._writer("eval")  # as Run._commit does with the store down
    job = keylog.prepare(t, step=0, separate=False)
    assert job is not None
    keylog.confirm()  # (as Run does once the job is handed over)
    run._spool_job(committer, job)
    run._spool = None  # the process ends; `tablelog sync` pushes the spool later
    tablelog.sync(tmp_path / "spool")
    store = open_store(**local.kw())
    assert find_shards(store, "p", "job", "eval") == ["r0", "r1"]
    assert not TableRef(store, "p", "job", "eval").has_version(0)  # not the unsharded chain
    assert local.scan("p/job/eval").sort("x").collect()["x"].to_list() == [1, 2]


def test_a_restarted_rank_continues_its_steps(local: Any) -> None:
    for shard, steps in (("r0", (0, 10, 20, 30, 40)), ("r1", (0, 10, 20))):
        with local.init(id="job", shard=shard) as run:
            t = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")
            for step in steps:
                t.add_data(step)
                run.log({"eval": t, "loss": 0.5}, step=step)
    with local.init(id="job", shard="r1") as run:  # rank 1 restarts
        t = tablelog.Table(columns=["step"], log_mode="INCREMENTAL")
        t.add_data(11)
        with pytest.raises(RunError, match="steps only move forward"):
            run.log({"eval": t}, step=11)
        run.log({"eval": t})  # no step: after the newest step of its chain
        run.log({"loss": 0.25})
    steps = local.scan("p/job/eval", shard="r1").collect()["step"].to_list()
    assert steps == [0, 10, 20, 11]  # the row logged at step 21
    # Per log: a version may hold several logs in format 2 (group commit).
    logs = tablelog.history("p/job/eval", per="increment", **local.kw())
    assert logs.filter(pl.col("shard") == "r1")["step"].to_list() == [0, 10, 20, 21]
    assert logs.filter(pl.col("shard") == "r0")["step"].to_list() == [0, 10, 20, 30, 40]
    info = json.loads((Path(local.root) / paths.run_json_key("p", "job")).read_bytes())
    assert info["last_step"] == 40  # the largest any rank logged, whichever finished last
    hist = local.scan("p/job/_history").collect()
    assert "_increment" not in hist.columns and hist.height == 9


def test_one_shard_reads_like_an_unsharded_table(local: Any) -> None:
    # only rank 0 logged; sync=True: one version per log (no group commit in format 2)
    with local.init(id="job", shard="rank-00000", sync=True) as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        for step in range(3):
            t.add_data(step)
            run.log({"eval": t}, step=step)
    assert local.scan("p/job/eval", version=1).collect()["i"].to_list() == [0, 1]
    assert local.scan("p/job/eval", increment=2).collect()["i"].to_list() == [2]
    assert len(tablelog.files("p/job/eval", version=0, **local.kw())[0]) == 1


def test_damaged_or_empty_shards_are_errors_not_gaps(local: Any) -> None:
    for shard in ("a", "b"):
        # sync=True: one version per log, so that shard b has a version 1 to lose
        with local.init(id="job", shard=shard, sync=True) as run:
            t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
            for step in range(4):
                t.add_data(step)
                run.log({"eval": t}, step=step)
    store = open_store(**local.kw())
    (
        Path(local.root) / TableRef(store, "p", "job", paths.shard_key("b", "eval")).version_key(1)
    ).unlink()
    with pytest.raises(NotFoundError):
        local.scan("p/job/eval", step=3).collect()
    store.put_if_absent(paths.shard_marker_key("p", "job", "new", "x"), b"")
    with pytest.raises(NotFoundError, match="no shard of table p/job/new"):
        tablelog.files("p/job/new", **local.kw())


def test_resume_false_is_not_turned_into_joining(local: Any) -> None:
    local.init(id="job", shard="a").finish()
    with pytest.raises(RunError, match="already exists"):
        local.init(id="job", shard="b", resume=False)
    with pytest.raises(RunError, match="already exists"):
        local.init(id="job", shard="b", resume="never")


def test_the_cli_counts_a_sharded_table_once_and_verifies_a_shard(
    local: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for shard in ("a", "b"):
        with local.init(id="job", shard=shard) as run:
            t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
            t.add_data(1)
            run.log({"eval": t}, step=0)
    assert cli(["ls", "p", "--json", "--root", local.root]) == 0
    assert json.loads(capsys.readouterr().out)[0]["tables"] == 1
    assert cli(["verify", "p/job/_shard/a/eval", "--root", local.root]) == 0
    assert "ok: 1 table(s)" in capsys.readouterr().out
