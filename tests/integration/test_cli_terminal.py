"""The command line on a real terminal (a pseudo-terminal), issue 8.

On a terminal, tables are drawn with rich and fit its width; progress bars go to
stderr when it is a terminal, never to stdout and never with --json. Without rich
(``sys.modules["rich"] = None`` in the child) the output is plain text and progress a
one-line counter. Each case runs the real command in a child process, on a local root
and on moto.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import tablelog

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NO_RICH = "import sys; sys.modules['rich'] = None; from tablelog.cli import main; sys.exit(main())"
_CLI = "from tablelog.cli import main; import sys; sys.exit(main())"


def run_cli(
    *argv: str, width: int = 80, tty_out: bool = True, tty_err: bool = False, rich: bool = True
) -> tuple[int, str, str]:
    """Run ``tablelog ARGV`` with stdout and/or stderr on a pseudo-terminal ``width``
    columns wide (the others piped); returns (exit code, stdout, stderr) as text with
    escapes kept."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    env = {**os.environ, "COLUMNS": str(width), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        [sys.executable, "-c", _CLI if rich else _NO_RICH, *argv],
        stdin=subprocess.DEVNULL,
        stdout=slave if tty_out else subprocess.PIPE,
        stderr=slave if tty_err else subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, err = child.communicate(timeout=120)  # the piped streams (small)
    on_tty = seen.decode().replace("\r\n", "\n")
    stdout = on_tty if tty_out else out.decode()
    stderr = on_tty if tty_err else err.decode()
    return child.returncode, stdout, stderr


def plain(text: str) -> list[str]:
    return [line.rstrip() for line in ANSI.sub("", text).splitlines()]


def _log(where: Any) -> str:
    # sync=True: one version per log (no group commit), so "3 version(s)" is exact.
    with where.init(project="proj", name="terminal", sync=True) as run:
        t = tablelog.Table(
            columns=["step", "prompt", "answer", "score", "label"], log_mode="INCREMENTAL"
        )
        for s in range(3):
            t.add_data(s, "a long prompt " * 8, f"answer {s}\nsecond line", s / 3, s % 2)
            run.log({"eval": t, "loss": 1.0 / (s + 1)}, step=s)
    return run.id


def test_tables_fit_the_terminal(cli_root: Any) -> None:
    run_id = _log(cli_root)
    path = f"proj/{run_id}/eval"
    for width in (60, 100):
        code, out, err = run_cli("--root", cli_root.root, "show", path, width=width)
        lines = plain(out)
        assert code == 0 and not err and max(len(line) for line in lines) <= width, out
        assert any(set(line.strip()) == {"─"} for line in lines)  # rich's header rule
        assert lines[1].split()[:2] == ["step", "prompt"]
        assert [line.split()[0] for line in lines[4:7]] == ["0", "1", "2"]  # one line a row
        assert "shape: (3, 6)" in lines[-1] or "shape: (3, 6)" in " ".join(lines[-3:])
    code, out, _ = run_cli("--root", cli_root.root, "show", path, width=40)
    assert max(len(line) for line in plain(out)) <= 40
    assert "more column(s) not shown" in " ".join(plain(out))
    code, out, _ = run_cli("--root", cli_root.root, "show", path, width=200)
    assert "more column(s)" not in out and "answer 0\\nsecond line" in out
    code, out, _ = run_cli("--root", cli_root.root, "history", path, width=80)
    lines = plain(out)
    assert code == 0 and max(len(line) for line in lines) <= 80
    assert lines[1].split()[:4] == ["version", "step", "mode", "rows"]
    code, out, _ = run_cli("--root", cli_root.root, "ls", "-l", f"proj/{run_id}", width=80)
    lines = plain(out)
    assert lines[1].split()[:3] == ["key", "mode", "versions"] and "INCREMENTAL" in out
    # Piped, the same commands print plain text (what test_cli_more.py checks).
    code, out, _ = run_cli("--root", cli_root.root, "ls", "-l", f"proj/{run_id}", tty_out=False)
    assert out.split()[:3] == ["_history", "INCREMENTAL", "3"] and "\x1b[" not in out


def test_plain_text_without_rich(cli_root: Any) -> None:
    run_id = _log(cli_root)
    path = f"proj/{run_id}/eval"
    code, out, _ = run_cli("--root", cli_root.root, "show", path, "--head", "2", rich=False)
    assert code == 0 and "shape: (2, 6)" in out and "╞" in out  # Polars' own table
    code, out, _ = run_cli("--root", cli_root.root, "ls", "-l", f"proj/{run_id}", rich=False)
    assert "eval  INCREMENTAL  3 version(s)  3 row(s)  step 2" in plain(out)
    code, out, err = run_cli(
        "--root", cli_root.root, "verify", tty_out=False, tty_err=True, rich=False
    )
    assert code == 0 and out.startswith("ok: 2 table(s)") and "verify tables: 2/2" in err


def test_progress_on_a_terminal_only(cli_root: Any, tmp_path: Path) -> None:
    run_id = _log(cli_root)
    path = f"proj/{run_id}/eval"
    root = ("--root", cli_root.root)
    for argv, task in [
        (("verify", "--deep"), "verify tables"),
        (("gc", "--min-age-hours", "0"), "read manifests"),
        (("compact", path), "write objects"),
        (("export", path, "--to", str(tmp_path / "eval.html")), "read versions"),
    ]:
        code, out, err = run_cli(*root, *argv, tty_out=False, tty_err=True)
        assert code == 0 and task in err and "━" in err, (argv, err)
        assert "\x1b" not in out and out.count("\n") >= 1  # the result, plain, on stdout
        code, out, err = run_cli(*root, *argv, "--json", tty_out=False, tty_err=True)
        assert code == 0 and err == "" and json.loads(out), argv
        code, out, err = run_cli(*root, *argv, tty_out=False, tty_err=False)
        assert code == 0 and err == "", argv  # stderr piped: no progress either
    # sync: a spool folder without logs reports that; no progress needed.
    spool = tmp_path / "spool"
    spool.mkdir()
    code, out, err = run_cli(*root, "sync", str(spool), tty_out=False, tty_err=True)
    assert (code, out) == (0, f"nothing to sync in {spool}\n")
