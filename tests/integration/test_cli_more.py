"""The command line, issue 8: --json for ls/show/history, diff, export, doctor, exit codes.

Each command runs against a local folder, memory:// and the moto S3 server (``root``),
in-process: memory:// cannot be shared with a subprocess. One test runs the console
script itself to check the exit code and one-line error of a real process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tablelog
from tablelog.cli import main
from tablelog.objects import open_store
from tablelog.read.diff import diff

Capsys = pytest.CaptureFixture[str]


@dataclasses.dataclass
class _Root:
    root: str


@pytest.fixture(params=["local", "memory", pytest.param("moto", marks=pytest.mark.s3)])
def root(request: pytest.FixtureRequest, make_root: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh root; S3 settings only in AWS_* (the CLI has no storage options)."""
    where = make_root(request.param)
    for k, v in where.env.items():
        monkeypatch.setenv(k, v)
    return dataclasses.replace(where, storage_options=None)


def _log(where: Any) -> str:
    """proj/RUN with train (INCREMENTAL x3), eval (MUTABLE x3), final (IMMUTABLE).

    sync=True: each log is its own version (no group commit), so the version numbers and
    counts the commands print are exact."""
    with where.init(project="proj", name="demo", sync=True) as run:
        train = tablelog.Table(columns=["step", "label", "emb"], log_mode="INCREMENTAL")
        for s in range(3):
            train.add_data(s, s % 2, [1.0, float(s)])
            train.add_data(s, 1, [2.0, float(s)])
            run.log({"train": train}, step=s)
        ev = tablelog.Table(columns=["input", "label", "prediction"], log_mode="MUTABLE")
        ev.add_data("x", 1, 0.8)
        ev.add_data("y", 0, 0.2)
        run.log({"eval": ev}, step=3)
        ev.add_column("confidence", [0.6, 0.1])
        run.log({"eval": ev}, step=4)
        ev2 = tablelog.Table(
            columns=["input", "label", "prediction"],
            data=[["x", 1, 0.8], ["y", 1, 0.7], ["z", 0, 0.1]],
            log_mode="MUTABLE",
        )
        run.log({"eval": ev2}, step=5)
        final = tablelog.Table(
            columns=["name", "meta", "blob"],
            data=[["a", {"k": 1, "v": "x"}, b"\x00\x01"], ["b", {"k": 2, "v": None}, None]],
        )
        run.log({"final": final}, step=6)
    return run.id


def _cli(where: Any, capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--root", where.root, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> None:
    assert err.startswith("tablelog: error: ") and err.count("\n") == 1, err


def _usage_error(capsys: Capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert not out
    _one_line_error(err)
    return err


def test_ls(root: Any, capsys: Capsys) -> None:
    run_id = _log(root)
    assert _cli(root, capsys, "ls") == (0, "proj\n", "")
    code, out, _ = _cli(root, capsys, "ls", "--json")
    assert code == 0 and json.loads(out) == [{"project": "proj", "runs": 1}]
    assert _cli(root, capsys, "ls", "proj") == (0, f"{run_id}\n", "")
    code, out, _ = _cli(root, capsys, "ls", "proj", "--json")
    [info] = json.loads(out)
    assert info["run_id"] == run_id and info["name"] == "demo"
    assert info["status"] == "finished" and info["last_step"] == 6 and info["tables"] == 3
    assert info["created"] <= info["updated"]
    code, out, _ = _cli(root, capsys, "ls", "-l", "proj")
    assert out.split() == [run_id, "finished", "step", "6", "3", "table(s)", "demo"]
    code, out, _ = _cli(root, capsys, "ls", f"proj/{run_id}")
    assert out.split() == ["eval", "final", "train"]
    code, out, _ = _cli(root, capsys, "ls", f"proj/{run_id}", "--json")
    tables = {t.pop("key"): t for t in json.loads(out)}
    assert {k: (t["mode"], t["versions"], t["rows"], t["step"]) for k, t in tables.items()} == {
        "eval": ("MUTABLE", 3, 3, 5),
        "final": ("IMMUTABLE", 1, 2, 6),
        "train": ("INCREMENTAL", 3, 6, 2),
    }
    code, out, _ = _cli(root, capsys, "ls", "-l", f"proj/{run_id}")
    assert "train  INCREMENTAL  3 version(s)  6 row(s)  step 2" in out.splitlines()
    code, _, err = _cli(root, capsys, "ls", "proj/nope")
    assert code == 1 and "no run proj/nope" in err
    _one_line_error(err)
    code, _, err = _cli(root, capsys, "ls", "nope", "--json")
    assert code == 1 and "no project 'nope'" in err
    _usage_error(capsys, ["--root", root.root, "ls", "a/b/c"])


def test_show(root: Any, capsys: Capsys) -> None:
    run_id = _log(root)
    path = f"proj/{run_id}/train"
    code, out, _ = _cli(root, capsys, "show", path, "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 6
    assert rows[0] == {"step": 0, "label": 0, "emb": [1.0, 0.0], "_increment": 0}
    code, out, _ = _cli(
        root, capsys, "show", path, "--json", "--where", "label = 1 AND step >= 1",
        "--columns", "step,emb", "--head", "2",
    )  # fmt: skip
    assert json.loads(out) == [{"step": 1, "emb": [1.0, 1.0]}, {"step": 1, "emb": [2.0, 1.0]}]
    code, out, _ = _cli(root, capsys, "show", path, "--version", "0", "--json", "--all")
    assert [r["_increment"] for r in json.loads(out)] == [0, 0]
    code, out, _ = _cli(root, capsys, "show", path, "--step", "1", "--head", "0", "--json")
    assert json.loads(out) == []
    code, out, _ = _cli(root, capsys, "show", path, "--where", "label = 0")
    assert code == 0 and "shape: (2, 4)" in out
    code, out, _ = _cli(root, capsys, "show", f"proj/{run_id}/final", "--json")
    assert json.loads(out) == [
        {"name": "a", "meta": {"k": 1, "v": "x"}, "blob": "AAE="},
        {"name": "b", "meta": {"k": 2, "v": None}, "blob": None},
    ]
    for argv, fragment in [
        (["--columns", "nope"], "has no column 'nope'"),
        (["--where", "nope > 1"], 'unable to find column "nope"'),
    ]:
        code, _, err = _cli(root, capsys, "show", path, *argv)
        assert code == 1 and fragment in err
        _one_line_error(err)
    code, _, err = _cli(root, capsys, "show", f"proj/{run_id}/nope")
    assert code == 1 and "has no table 'nope'" in err
    _one_line_error(err)


def test_history(root: Any, capsys: Capsys) -> None:
    run_id = _log(root)
    code, out, _ = _cli(root, capsys, "history", f"proj/{run_id}/eval", "--json")
    versions = json.loads(out)
    assert code == 0 and [v["version"] for v in versions] == [0, 1, 2]
    assert [v["rows"] for v in versions] == [2, 2, 3] and versions[1]["step"] == 4
    assert versions[1]["columns"] == ["input", "label", "prediction", "confidence"]
    assert all(len(v["digest"]) == 64 and v["time"].endswith("+00:00") for v in versions)
    code, out, _ = _cli(root, capsys, "history", f"proj/{run_id}/eval")
    assert code == 0 and "MUTABLE" in out and "digest" not in out
    code, _, err = _cli(root, capsys, "history", "proj/nope/eval", "--json")
    assert code == 1 and "no run proj/nope" in err
    _one_line_error(err)


def test_diff(root: Any, capsys: Capsys) -> None:
    run_id = _log(root)
    path = f"proj/{run_id}/eval"
    code, out, _ = _cli(root, capsys, "diff", path, "0", "2")
    assert code == 0 and out.splitlines() == [
        f"{path}: version 0 -> 2 (MUTABLE, rows by position)",
        "rows: 2 -> 3: +1 added, -0 removed, 1 changed",
        "cells changed: label 1, prediction 1",
    ]
    code, out, _ = _cli(root, capsys, "diff", path, "0", "1", "--json")
    d = json.loads(out)
    assert d["columns_added"] == ["confidence"] and d["columns_removed"] == []
    assert d["rows_changed"] == 0 and d["cells_changed"] == {
        "input": 0, "label": 0, "prediction": 0
    }  # fmt: skip
    code, out, _ = _cli(root, capsys, "diff", path, "1", "--json")  # B defaults to the latest
    d = json.loads(out)
    assert (d["b"]["version"], d["columns_removed"], d["rows_added"]) == (2, ["confidence"], 1)
    code, out, _ = _cli(root, capsys, "diff", f"proj/{run_id}/train", "0", "2")
    assert out.splitlines()[-1] == "increments added: 1 (2 rows), 2 (2 rows)"
    code, out, _ = _cli(root, capsys, "diff", f"proj/{run_id}/train", "-1", "0", "--json")
    d = json.loads(out)
    assert (d["mode"], d["identity"], d["rows_added"], d["rows_removed"]) == (
        "INCREMENTAL", "increment", 0, 4,
    )  # fmt: skip
    assert d["increments_removed"] == [{"increment": 1, "rows": 2}, {"increment": 2, "rows": 2}]
    code, out, _ = _cli(root, capsys, "diff", f"proj/{run_id}/final", "0", "0")
    assert out.splitlines()[-1] == "no difference"
    code, _, err = _cli(root, capsys, "diff", path, "0", "7")
    assert code == 1 and "there is no version 7" in err
    _one_line_error(err)


def test_export(root: Any, capsys: Capsys, tmp_path: Path) -> None:
    run_id = _log(root)
    train, final = f"proj/{run_id}/train", f"proj/{run_id}/final"
    expected = root.scan(train).collect()
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out_pq = tmp_path / "train.parquet"
    code, out, _ = _cli(root, capsys, "export", train, "--to", str(out_pq), "--json")
    done = json.loads(out)
    assert code == 0 and (done["rows"], done["version"], done["format"]) == (6, 2, "parquet")
    assert pl.read_parquet(out_pq).equals(expected)
    code, out, _ = _cli(root, capsys, "export", train, "--to", str(out_pq), "--version", "0")
    assert out.startswith(f"wrote 2 row(s), 4 column(s) of {train} version 0 to ")
    assert pl.read_parquet(out_pq).height == 2
    assert [p.name for p in tmp_path.iterdir()] == ["train.parquet"]  # no temp files left
    out_csv = tmp_path / "final.csv"
    assert _cli(root, capsys, "export", final, "--to", str(out_csv))[0] == 0
    csv = pl.read_csv(out_csv)
    assert csv["name"].to_list() == ["a", "b"] and csv["blob"].to_list() == ["AAE=", None]
    assert [json.loads(m) for m in csv["meta"]] == [{"k": 1, "v": "x"}, {"k": 2, "v": None}]
    out_json = tmp_path / "train.json"
    assert _cli(root, capsys, "export", train, "--to", str(out_json), "--step", "1")[0] == 0
    assert len(json.loads(out_json.read_text())) == 4
    out_nd = tmp_path / "train.jsonl"
    assert _cli(root, capsys, "export", train, "--to", str(out_nd))[0] == 0
    assert pl.read_ndjson(out_nd)["emb"].to_list() == expected["emb"].to_list()
    err = _usage_error(capsys, ["--root", root.root, "export", train, "--to", "x.xlsx"])
    assert "unknown extension '.xlsx'" in err
    code, _, err = _cli(root, capsys, "export", train, "--to", str(tmp_path / "no" / "x.csv"))
    assert code == 1 and "does not exist" in err
    _one_line_error(err)


def test_doctor(root: Any, capsys: Capsys) -> None:
    code, out, err = _cli(root, capsys, "doctor")
    lines = out.splitlines()
    assert code == 0 and not err and lines[-1] == "all checks passed", out
    assert [line.split("]")[0] for line in lines[1:6]] == ["[  ok"] * 5
    assert main(["doctor", root.root, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["probe"]["deleted"]
    assert [c["name"] for c in report["checks"]] == [
        "reachable", "writable", "create-if-absent", "read latency", "readers",
    ]  # fmt: skip
    assert all(c["ok"] for c in report["checks"]) and report["checks"][3]["ms"] >= 0
    store = open_store(root.root)
    assert not list(store.list("_tablelog/probes/"))
    secrets = [root.env[k] for k in ("AWS_SECRET_ACCESS_KEY",) if k in root.env]
    assert not any(s in out + json.dumps(report) for s in secrets)


def test_doctor_on_a_file(capsys: Capsys, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, out, _ = _cli(_Root(str(a_file)), capsys, "doctor")
    assert code == 1 and "is not a folder" in out and out.splitlines()[-1] == "1 check(s) failed"
    assert out.count("[skip]") == 4


@pytest.mark.s3
def test_doctor_missing_bucket_on_moto(
    make_root: Any, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = make_root("moto")
    secret = "s3cr3t-value-never-printed"
    for k, v in where.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)  # moto accepts any credentials
    code, out, _ = _cli(_Root("s3://tl-no-such-bucket/x"), capsys, "doctor", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert [c["status"] for c in report["checks"]] == ["fail", "skip", "skip", "skip", "skip"]
    assert secret not in out
    code, out, _ = _cli(_Root(where.root), capsys, "doctor")
    assert code == 0 and secret not in out and "s3://" in out.splitlines()[0]


def test_diff_logic(local: Any) -> None:
    """Compacted and separate INCREMENTAL tables, retyped and null columns."""
    with local.init(project="p", sync=True) as run:  # one version per log: versions are exact
        run.define_metric("sep", summary="none")
        inc = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        sep = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        for s in range(4):
            inc.add_data(s)
            sep.add_data(s)
            sep.add_data(s)
            run.log({"inc": inc, "sep": sep}, step=s)
        mut = tablelog.Table(columns=["x", "y"], data=[[1, None], [2, None]], log_mode="MUTABLE")
        run.log({"mut": mut}, step=5)
        run.log({"mut": tablelog.Table(columns=["x", "y"], data=[[1.5, "a"], [2.0, None]],
                                       log_mode="MUTABLE")}, step=6)  # fmt: skip
    tablelog.compact(f"p/{run.id}/inc", root=local.root)
    d = diff(f"p/{run.id}/inc", 1, root=local.root)  # latest = the compacted version 4
    assert (d.version_b, d.rows_added, d.increments_added) == (4, 2, ((2, 1), (3, 1)))
    d = diff(f"p/{run.id}/sep", 0, 3, root=local.root)
    assert d.increments_added == ((1, 2), (2, 2), (3, 2)) and d.rows_added == 6
    d = diff(f"p/{run.id}/mut", 0, 1, root=local.root)
    assert d.columns_retyped == ("x",) and dict(d.cells_changed) == {"x": 1, "y": 1}
    assert d.rows_changed == 1 and not d.same
    assert diff(f"p/{run.id}/mut", 1, 1, root=local.root).same


def test_console_script_exit_codes(local: Any, tmp_path: Path) -> None:
    """A real process: exit 2 and one line for usage errors, 1 for tablelog errors."""
    exe = Path(sys.executable).with_name("tablelog")
    cmd: Callable[..., subprocess.CompletedProcess[str]] = lambda *a: subprocess.run(  # noqa: E731
        [str(exe), "--root", local.root, *a],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    for argv, code in [
        (["show", "p/r/k", "--head", "-1"], 2),
        (["export", "p/r/k", "--to", "out.txt"], 2),
        (["show", "p/r/k", "--where", "a = = 1"], 2),
        (["diff", "p/r/k"], 2),
        (["show", "p/r/k"], 1),
        (["show", "not-a-path"], 1),
    ]:
        done = cmd(*argv)
        assert done.returncode == code, (argv, done.stderr)
        assert not done.stdout and done.stderr.startswith("tablelog: error: ")
        assert done.stderr.count("\n") == 1, done.stderr
    assert cmd("doctor").returncode == 0
    help_text = cmd("export", "--help").stdout
    assert "--to FILE" in help_text and ".parquet" in help_text
