"""The command line as a newcomer meets it (issue 19): --version, bare help, roots that
do not exist, truncated shows, piped history, mistyped S3 URLs, missing credentials
and an unreachable endpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from servers import free_port

import tablelog
from tablelog.cli import main
from tablelog.errors import InvalidRootError, TablelogError

Capsys = pytest.CaptureFixture[str]


def _cli(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> None:
    assert err.startswith("tablelog: error: ") and err.count("\n") == 1, err


def test_version_and_bare_help(capsys: Capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"tablelog {tablelog.__version__}"
    code, out, err = _cli(capsys)
    assert code == 0 and out.startswith("usage: tablelog") and not err
    assert all(name in out for name in ("ls", "show", "history", "export", "verify", "gc"))


def test_missing_root_is_not_an_empty_store(cli_root: Any, capsys: Capsys) -> None:
    """ls, verify and gc on a folder or bucket that does not exist exit 1."""
    missing = (
        str(Path(cli_root.root).parent / "typo")
        if cli_root.kind == "local"
        else "s3://no-such-bucket-tl/team"
    )
    for command in ("ls", "verify", "gc"):
        code, out, err = _cli(capsys, "--root", missing, command)
        assert code == 1 and not out and "no such bucket/folder" in err, (command, err)
        _one_line_error(err)
    # An existing, empty root is fine, and says so.
    if cli_root.kind == "local":
        os.makedirs(cli_root.root)
    code, out, err = _cli(capsys, "--root", cli_root.root, "ls")
    assert code == 0 and not out and "no projects in" in err
    code, out, _ = _cli(capsys, "--root", cli_root.root, "verify")
    assert code == 0 and out.startswith("ok: 0 table(s)")


def test_show_says_when_it_truncates_and_history_is_one_line_per_version(
    local: Any, capsys: Capsys
) -> None:
    # sync=True: each log is its own version (no group commit), so history has 4 lines.
    with local.init(project="proj", sync=True) as run:
        t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        for step in range(4):
            for i in range(25):
                t.add_data(step * 25 + i)
            run.log({"eval": t}, step=step)
    path = f"proj/{run.id}/eval"
    code, out, _ = _cli(capsys, "--root", local.root, "show", path)
    assert code == 0 and out.rstrip().endswith("20 of 100 rows (--head N or --all for more)")
    code, out, _ = _cli(capsys, "--root", local.root, "show", path, "--head", "100")
    assert code == 0 and "of 100 rows" not in out and "shape: (100, 2)" in out
    code, out, _ = _cli(capsys, "--root", local.root, "show", path, "--where", "a < 5")
    assert code == 0 and "of 5 rows" not in out and "shape: (5, 2)" in out
    code, out, _ = _cli(capsys, "--root", local.root, "history", path)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4, out
    assert [line.split()[0] for line in lines] == ["0", "1", "2", "3"]
    assert "step 3  INCREMENTAL  100 row(s)  +25" in lines[3]


def test_one_slash_url_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    for root in ("s3:/bucket/x", "S3:/bucket/x", "gs:/b"):
        with pytest.raises(InvalidRootError, match="two slashes"):
            tablelog.init(project="p", root=root)
        code, _, err = _cli(capsys, "--root", root, "ls")
        assert code == 1 and "one slash" in err
        _one_line_error(err)
    assert list(tmp_path.iterdir()) == []  # no ./s3: folder
    # A local folder whose name has a colon is still reachable with ./ before it.
    with tablelog.init(project="p", root="./s3:/x") as run:
        run.log({"t": tablelog.Table(columns=["a"], data=[[1]])})
    assert (tmp_path / "s3:" / "x").is_dir()


@pytest.mark.s3
def test_uppercase_s3_scheme_is_s3(moto_server: Any, make_root: Any) -> None:
    where = make_root("moto")
    upper = "S3://" + where.root.removeprefix("s3://")
    with tablelog.init(project="p", root=upper, storage_options=where.storage_options) as run:
        run.log({"t": tablelog.Table(columns=["a"], data=[[1], [2]])})
    assert where.scan(f"p/{run.id}/t").collect()["a"].to_list() == [1, 2]


@pytest.mark.s3
def test_missing_credentials_say_what_to_set(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    # The endpoint is moto's, so nothing could reach AWS even if credentials were found.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    code, _, err = _cli(capsys, "--root", "s3://some-bucket/x", "ls")
    assert code == 1 and "AWS_ACCESS_KEY_ID" in err and "AWS_ENDPOINT_URL" in err
    _one_line_error(err)
    with pytest.raises(TablelogError, match="AWS_SECRET_ACCESS_KEY"):
        tablelog.scan("p/r/t", root="s3://some-bucket/x").collect()


def test_unreachable_endpoint_names_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for k, v in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",  # botocore's retries would only slow the test
    }.items():
        monkeypatch.setenv(k, v)
    for command in ("ls", "verify"):
        code, _, err = _cli(capsys, "--root", "s3://bucket/x", command)
        assert code == 1 and f"could not connect to {url}/bucket" in err, err
        assert "AWS_ENDPOINT_URL" in err
        _one_line_error(err)
