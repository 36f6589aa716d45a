"""``tablelog sync`` under interruptions and concurrency (issue 22, cases 2, 3, 9b).

The spools are written with the spool module's own API, as a run that lost its store
leaves them (a real outage takes the S3 clients' own retries: minutes; that path is in
tests/integration/test_s3_protocol.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import tablelog
from tablelog.format.chain import TableRef, latest_version, load_version
from tablelog.objects.open import open_store
from tablelog.writer.keylog import KeyLog
from tablelog.writer.spool import Spool


class _Stop(Exception):
    pass


def _mutable_spool(where: Any, folder: Path) -> Spool:
    """Run proj/m logs 3 rows of a MUTABLE table, then (offline) a 4th row and a column."""
    with where.init(project="proj", id="m", sync=True) as run:
        t = tablelog.Table(columns=["a"], data=[[0], [1], [2]], log_mode="MUTABLE")
        run.log({"t": t}, step=0)
    committed = [(f.id, 0, 3) for f in _fragments(where)]
    keylog = KeyLog(key="t", path="proj/m/t")
    keylog.prepare(t, step=0, separate=False)  # what the run had sent
    keylog.confirm()  # (as Run does once the job is handed over)
    spool = Spool(folder / "proj" / "m" / "writer-1")
    t.add_data(3)
    rows_job = keylog.prepare(t, step=1, separate=False)
    keylog.confirm()  # (as Run does once the job is handed over)
    t.add_column("b", ["0", "1", "2", "3"])
    cols_job = keylog.prepare(t, step=2, separate=False)
    assert rows_job is not None and cols_job is not None and cols_job.rows is None
    keylog.confirm()  # (as Run does once the job is handed over)
    for job in (rows_job, cols_job):  # the committer's ranges: committed rows only
        spool.add(job, root=where.root, project="proj", run_id="m", base=0, ranges=committed)
    return spool


def _fragments(where: Any) -> Any:
    ref = TableRef(open_store(where.root, storage_options=where.storage_options), "proj", "m", "t")
    return load_version(ref, latest_version(ref)).fragments


def test_mutable_pair_interrupted_sync_writes_the_column_for_every_row(
    local: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "spool"
    _mutable_spool(local, folder)

    def stop_after_first(_: str, done: int, total: int | None) -> None:
        raise _Stop  # the first log left the spool: stop as a killed sync would

    with pytest.raises(_Stop):
        tablelog.sync(folder, progress=stop_after_first)
    assert tablelog.sync(folder) == (1, 0)
    df = local.scan("proj/m/t").collect()
    assert df.to_dict(as_series=False) == {"a": [0, 1, 2, 3], "b": ["0", "1", "2", "3"]}
    assert tablelog.verify(root=local.root, deep=True).ok


def _incremental_spool(where: Any, folder: Path, n: int, *, finish: bool = False) -> None:
    with where.init(project="proj", id="i"):
        pass
    keylog = KeyLog(key="t", path="proj/i/t")
    spool = Spool(folder / "proj" / "i" / "writer-1")
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    for i in range(n):
        t.add_data(i)
        job = keylog.prepare(t, step=i, separate=False)
        assert job is not None
        keylog.confirm()  # (as Run does once the job is handed over)
        spool.add(job, root=where.root, project="proj", run_id="i", base=-1, ranges=[])
    if not finish:
        return
    spool.finish(  # finish() with logs still spooled
        {"root": where.root, "project": "proj", "run_id": "i", "status": "finished",
         "last_step": n - 1}
    )  # fmt: skip


def test_two_syncs_at_once_commit_each_log_once(local: Any, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    n = 30
    _incremental_spool(local, folder, n)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            results.append(tablelog.sync(folder))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert sum(c for c, _ in results) == n
    assert local.scan("proj/i/t").collect()["i"].to_list() == list(range(n))
    _each_log_once(local, n)


def test_two_sync_processes_at_once(local: Any, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    n = 20
    _incremental_spool(local, folder, n)
    cmd = [sys.executable, "-m", "tablelog.cli", "sync", str(folder), "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()
    assert sum(json.loads(out)["committed"] for out, _ in outs) == n
    assert local.scan("proj/i/t").collect()["i"].to_list() == list(range(n))
    _each_log_once(local, n)


def test_sync_finishes_the_run_and_resume_continues(local: Any, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    _incremental_spool(local, folder, 5, finish=True)
    assert tablelog.sync(folder) == (5, 0)
    assert not list(folder.rglob("finish.json"))
    info = json.loads((Path(local.root) / "projects/proj/runs/i/run.json").read_text())
    assert (info["status"], info["last_step"]) == ("finished", 4)
    with local.init(project="proj", id="i", resume="must") as run:
        assert run.step == 5


def test_two_copies_of_a_spool_synced_at_once_commit_each_log_once(
    local: Any, tmp_path: Path
) -> None:
    """No lock is shared between copies (another machine, a restored backup): the log
    ids alone keep each log to one version, also when a push rebases past it."""
    folder = tmp_path / "spool"
    n = 30
    _incremental_spool(local, folder, n)
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def one(where: Path) -> None:
        try:
            results.append(tablelog.sync(where))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(f,)) for f in (folder, copy)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert sum(c for c, _ in results) == n and sum(s for _, s in results) == n
    assert local.scan("proj/i/t").collect()["i"].to_list() == list(range(n))
    _each_log_once(local, n)


def test_a_sync_stopped_after_the_last_log_still_finishes_the_run(
    local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The logs all landed, then the sync died before writing run.json: the next
    `tablelog sync` finds the spool by its finish.json alone and writes it."""
    from tablelog.cli import main

    folder = tmp_path / "spool"
    _incremental_spool(local, folder, 3, finish=True)

    def stop_at_the_end(_: str, done: int, total: int | None) -> None:
        if done == total:
            raise _Stop

    with pytest.raises(_Stop):
        tablelog.sync(folder, progress=stop_at_the_end)
    assert not list(folder.rglob("*.job.json")) and list(folder.rglob("finish.json"))
    assert main(["sync", str(folder)]) == 0
    assert "proj/i: 0 committed, 0 already there" in capsys.readouterr().out
    info = json.loads((Path(local.root) / "projects/proj/runs/i/run.json").read_text())
    assert (info["status"], info["last_step"]) == ("finished", 2)
    assert not list(folder.rglob("finish.json"))


def _each_log_once(local: Any, n: int) -> None:
    """The ``n`` spooled logs are increments 0..n-1, each once, one row each (sync
    groups them into versions as it can: which versions is not the point here)."""
    incs = tablelog.history("proj/i/t", per="increment", **local.kw())
    assert incs["increment"].to_list() == list(range(n))
    assert incs["log_id"].n_unique() == n and incs["rows"].to_list() == [1] * n
    assert tablelog.verify(**local.kw(), deep=True).ok


def test_an_entry_missing_its_rows_is_reported_not_skipped(local: Any, tmp_path: Path) -> None:
    """A sync skips an entry whose files vanish only when its job.json went first (another
    pusher removed it); rows missing beside a job.json that is still there are damage."""
    folder = tmp_path / "spool"
    _incremental_spool(local, folder, 3)
    rows = sorted(folder.rglob("*.rows.arrow"))[0]
    rows.unlink()
    with pytest.raises(FileNotFoundError, match=r"rows\.arrow"):
        tablelog.sync(folder)
    assert rows.with_name(rows.name.replace(".rows.arrow", ".job.json")).exists()
