"""The command line: ls, show, history, and one-line errors."""

from __future__ import annotations

from typing import Any

import pytest

import tablelog
from tablelog.cli import main


def test_ls_show_history(local: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # sync=True: each log is its own version, so version 1 and "3 -> 1 fragments" exist.
    with local.init(project="proj", sync=True) as run:
        t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        for s in range(3):
            t.add_data(s)
            run.log({"eval/x": t}, step=s)
    assert main(["--root", local.root, "ls"]) == 0
    assert capsys.readouterr().out.split() == ["proj"]
    assert main(["--root", local.root, "ls", "proj"]) == 0
    assert capsys.readouterr().out.split() == [run.id]
    assert main(["--root", local.root, "ls", f"proj/{run.id}"]) == 0
    assert "eval/x" in capsys.readouterr().out
    assert main(["--root", local.root, "show", f"proj/{run.id}/eval/x", "--version", "1"]) == 0
    assert "shape: (2, 2)" in capsys.readouterr().out
    assert main(["--root", local.root, "history", f"proj/{run.id}/eval/x"]) == 0
    assert "INCREMENTAL" in capsys.readouterr().out
    assert main(["--root", local.root, "compact", f"proj/{run.id}/eval/x"]) == 0
    assert "3 -> 1 fragments" in capsys.readouterr().out
    assert main(["--root", local.root, "show", f"proj/{run.id}/eval/x"]) == 0
    assert "shape: (3, 2)" in capsys.readouterr().out
    assert main(["--root", local.root, "show", "proj/nope/k"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tablelog: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
