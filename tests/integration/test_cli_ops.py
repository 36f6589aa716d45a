"""The command line, issue 8: sync, verify, gc and compact on a local root and moto.

Text and --json output checked; bad arguments are one line and exit 2. The spool that
``sync`` pushes is written with the spool module's own API, as a run that lost its
store writes it (a real outage on moto and SeaweedFS followed by ``tablelog.sync`` is
tests/integration/test_s3_protocol.py; its client-side retries take minutes).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import tablelog
from tablelog.cli import main
from tablelog.writer.keylog import KeyLog
from tablelog.writer.spool import Spool

Capsys = pytest.CaptureFixture[str]


def _cli(root: str | None, capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*(["--root", root] if root else []), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _usage_error(capsys: Capsys, argv: list[str], fragment: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and not out
    assert err.startswith("tablelog: error: ") and err.count("\n") == 1, err
    assert fragment in err, err


def _spool(where: Any, folder: Path, run_id: str, n: int) -> None:
    """``n`` INCREMENTAL logs of proj/RUN/t waiting in a writer spool, as a run that
    lost its store leaves them (the run itself exists: run.json was written)."""
    with where.init(project="proj", id=run_id):
        pass
    keylog = KeyLog(key="t", path=f"proj/{run_id}/t")
    spool = Spool(folder / "proj" / run_id / "writer-1")
    t = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
    for i in range(n):
        t.add_data(i, f"<{i}>")
        job = keylog.prepare(t, step=i, separate=False)
        assert job is not None
        keylog.confirm()  # (as Run does once the job is handed over)
        spool.add(job, root=where.root, project="proj", run_id=run_id, base=-1, ranges=[])


def test_sync(
    cli_root: Any, capsys: Capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    monkeypatch.setenv("TABLELOG_SPOOL", str(spool))
    _spool(cli_root, spool, "r1", 5)
    saved = tmp_path / "saved"
    shutil.copytree(spool, saved)
    assert len(list(spool.rglob("*.job.json"))) == 5
    code, out, err = _cli(None, capsys, "sync")  # the default spool: $TABLELOG_SPOOL
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"proj/r1: 5 committed, 0 already there ({cli_root.root})",
        f"synced 5 log(s) from {spool}: 5 committed, 0 already there",
    ]
    assert cli_root.scan("proj/r1/t").collect()["i"].to_list() == [0, 1, 2, 3, 4]
    assert not list(spool.rglob("*.job.json"))
    code, out, _ = _cli(None, capsys, "sync", "--json")  # a second sync changes nothing
    assert code == 0 and json.loads(out) == {
        "spool": str(spool), "committed": 0, "already": 0, "runs": []
    }  # fmt: skip
    assert _cli(None, capsys, "sync", str(spool))[1] == f"nothing to sync in {spool}\n"
    # The same spool pushed again (a sync that lost its replies): nothing lands twice.
    code, out, _ = _cli(None, capsys, "sync", str(saved), "--json")
    report = json.loads(out)
    assert code == 0 and (report["committed"], report["already"]) == (0, 5)
    [run] = report["runs"]
    assert (run["project"], run["run_id"], run["root"]) == ("proj", "r1", cli_root.root)
    # Each log landed once: sync may group the spooled logs into fewer commits (format 2),
    # so count the logs (increments), not the versions.
    logs = tablelog.history("proj/r1/t", per="increment", **cli_root.kw())
    assert logs["increment"].to_list() == logs["step"].to_list() == [0, 1, 2, 3, 4]
    assert logs["rows"].to_list() == [1] * 5 and logs["log_id"].n_unique() == 5
    assert cli_root.scan("proj/r1/t").collect()["s"].to_list() == [f"<{i}>" for i in range(5)]


def test_sync_root_override_and_errors(
    cli_root: Any, make_root: Any, capsys: Capsys, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    _spool(cli_root, spool, "r2", 2)
    # --root sends the logs to another root than the one recorded (a moved bucket).
    other = make_root("local")
    code, out, _ = _cli(other.root, capsys, "sync", str(spool / "proj" / "r2"), "--json")
    assert code == 0 and json.loads(out)["committed"] == 2
    assert other.scan("proj/r2/t").collect().height == 2
    code, _, err = _cli(None, capsys, "sync", str(tmp_path / "nope"))
    assert code == 1 and "spool folder" in err and "does not exist" in err
    assert err.count("\n") == 1
    _usage_error(capsys, ["sync", "a", "b"], "unrecognized arguments: b")
    _usage_error(capsys, ["sync", "--jsn"], "unrecognized arguments: --jsn")


def _log(where: Any) -> str:
    # sync=True: one version per log (no group commit), so the counts printed are exact.
    with where.init(project="proj", sync=True) as run:
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        for s in range(4):
            t.add_data(s)
            run.log({"t": t, "loss": 1.0 / (s + 1)}, step=s)
    return run.id


def test_verify_gc_compact(cli_root: Any, capsys: Capsys) -> None:
    run_id = _log(cli_root)
    path = f"proj/{run_id}/t"
    code, out, err = _cli(cli_root.root, capsys, "verify")
    assert (code, err) == (0, "") and out.startswith("ok: 2 table(s), 8 version(s), ")
    code, out, _ = _cli(cli_root.root, capsys, "verify", path, "--deep", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["deep"] and report["versions"] == 4
    code, out, _ = _cli(cli_root.root, capsys, "compact", path, "--json")
    done = json.loads(out)
    assert code == 0 and done == {
        "path": path, "compacted": True, "version": 4, "fragments_before": 4,
        "fragments_after": 1, "rows": 4, "bytes_written": done["bytes_written"],
    }  # fmt: skip
    assert done["bytes_written"] > 0
    code, out, _ = _cli(cli_root.root, capsys, "compact", path)
    assert out == f"{path}: 1 fragment(s), nothing to compact\n"
    assert cli_root.scan(path).collect()["i"].to_list() == [0, 1, 2, 3]
    # Compaction keeps the old objects (old versions read them); only store probes
    # (S3 roots leave one from the first write check) are garbage.
    code, out, _ = _cli(cli_root.root, capsys, "gc", "--min-age-hours", "0")
    *urls, summary = out.splitlines()
    assert code == 0 and all("/_tablelog/probes/" in u for u in urls)
    assert summary.startswith(f"would delete {len(urls)} object(s), ")
    code, out, _ = _cli(
        cli_root.root,
        capsys,
        "gc",
        "--min-age-hours",
        "0",
        "--delete",
        "--allow-short-grace",
        "--json",
    )
    gc = json.loads(out)
    assert code == 0 and not gc["dry_run"] and gc["deleted"] == len(urls) and gc["lost"] == []
    code, out, _ = _cli(cli_root.root, capsys, "gc", "--min-age-hours", "0")
    assert out.startswith("would delete 0 object(s), 0 bytes; kept 11 referenced by 9 version(s)")
    code, out, _ = _cli(cli_root.root, capsys, "verify", "--json")
    assert code == 0 and json.loads(out)["problems"] == []
    _usage_error(capsys, ["--root", cli_root.root, "compact", path, "--target-rows", "0"], "> 0")
    _usage_error(capsys, ["--root", cli_root.root, "gc", "--min-age-hours", "-1"], ">= 0")
    _usage_error(capsys, ["--root", cli_root.root, "verify", "a", "b"], "unrecognized")
    code, _, err = _cli(cli_root.root, capsys, "verify", "proj/nope")
    assert code == 1 and "nothing to verify" in err and err.count("\n") == 1
