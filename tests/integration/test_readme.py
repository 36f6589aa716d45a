"""Every snippet of README.md runs, in order, as a newcomer would run them (issue 19).

The snippets are read from README.md itself, so they cannot drift. ```python blocks run
in one namespace (the first is also saved as quickstart.py, as the README says); ```bash
blocks run line by line in a shell, with ``.venv/bin/`` meaning this interpreter's bin
folder. ``quickstart/RUN_ID`` becomes the path the Quickstart printed. The S3 section runs
against the session's moto server in place of the ``moto_server`` it starts. Lines not run
here, each for a reason:

* ``make demo`` / ``make test``: .ci/run runs both on a fresh clone.
* ``pip install 'moto[server]'``: installed already (dev extra); tests install nothing.
* ``moto_server -p 5000 &``: the moto fixture instead (its port replaces 5000).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
NOT_RUN = {
    "make demo": "run by .ci/run",
    "make test": "run by .ci/run",
    ".venv/bin/pip install 'moto[server]'": "installed by the dev extra",
    ".venv/bin/moto_server -p 5000 &": "the moto_server fixture instead",
}


def blocks() -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in FENCE.finditer(README.read_text())]


def _code(line: str) -> str:
    """A shell line without its trailing comment (none of ours has # inside quotes)."""
    return line.split("  #", 1)[0].strip()


def test_readme_is_short_and_every_block_is_known() -> None:
    text = README.read_text()
    assert len(text) <= 10_000, f"README.md is {len(text)} characters (at most 10,000)"
    langs = {lang for lang, _ in blocks()}
    assert langs <= {"python", "bash"}, langs
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" not in link:
            assert (README.parent / link).exists() or link == "docs/wandb.md", link


@pytest.mark.s3
def test_readme_snippets_run(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = str(Path(sys.executable).parent)
    tablelog_exe = Path(bin_dir, "tablelog")
    if not tablelog_exe.exists():  # a run from a tree without the console script
        pytest.fail(f"{tablelog_exe} is missing: install the project (pip install -e .)")
    port = moto_server.endpoint_url.rsplit(":", 1)[1]
    namespace: dict[str, Any] = {}
    state = {"run_id": None, "python_blocks": 0}
    skipped: list[str] = []

    def fill(text: str) -> str:
        text = text.replace("127.0.0.1:5000", f"127.0.0.1:{port}")
        if state["run_id"] is not None:
            text = text.replace("RUN_ID", str(state["run_id"]))
        return text

    def run_line(line: str) -> None:
        code = _code(line)
        if not code:
            return
        if code in NOT_RUN:
            skipped.append(code)
            return
        code = fill(code)
        if code.startswith("export "):
            for assignment in shlex.split(code)[1:]:
                name, _, value = assignment.partition("=")
                monkeypatch.setenv(name, value)
            return
        cmd = code.replace(".venv/bin/", bin_dir + "/")
        proc = subprocess.run(
            ["bash", "-c", cmd],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env=os.environ.copy(),
            check=False,
        )
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr, proc.stderr
        found = re.search(r"^logged quickstart/(\w+) into ", proc.stdout, re.M)
        if found:
            state["run_id"] = found[1]
            assert f"next: .venv/bin/tablelog ls quickstart/{found[1]}" in proc.stdout
        if "tablelog ls quickstart" in code:
            assert state["run_id"] in proc.stdout.split()

    for lang, body in blocks():
        if lang == "python":
            if state["python_blocks"] == 0:
                Path("quickstart.py").write_text(body)
            else:
                assert state["run_id"] is not None, "a snippet needs RUN_ID before it is known"
                exec(compile(fill(body), "README.md", "exec"), namespace)
            state["python_blocks"] += 1
        else:
            for line in body.splitlines():
                run_line(line)
    assert sorted(skipped) == sorted(NOT_RUN), skipped
    assert Path("eval.html").stat().st_size > 0
    assert namespace["run"].path.startswith("s3-demo/")
