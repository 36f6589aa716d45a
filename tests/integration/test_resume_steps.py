"""Steps after a crash (issue 22, case 6): a resumed run continues from the steps its
chains hold, steps never go back along a chain, and ``scan(step=)`` finds them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import polars as pl
import pytest

import tablelog

CRASHING = textwrap.dedent(
    """
    import os, sys
    import tablelog
    run = tablelog.init(project="p", id="c", root=sys.argv[1])
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    for step in range(5):
        t.add_data(step)
        run.log({"t": t, "loss": step / 10})
    run.flush()
    os._exit(0)  # a crash: finish() never runs, run.json keeps last_step null
    """
)


def test_resume_after_a_crash_continues_the_steps(local: Any) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", CRASHING, local.root], check=True, env=env)
    with local.init(id="c", resume="must") as run:
        assert run.step == 5
        t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
        t.add_data(5)
        run.log({"t": t, "loss": 0.5})
    history = local.scan("p/c/_history").collect()
    assert history["_step"].to_list() == list(range(6))
    # One increment per log (the commit thread may have put several in one version);
    # each version's step is its last log's.
    incs = tablelog.history("p/c/t", per="increment", **local.kw())
    assert incs["step"].to_list() == list(range(6)) == incs["increment"].to_list()
    last = incs.group_by("version", maintain_order=True).agg(pl.col("step").last())
    assert local.history("p/c/t").select("version", "step").rows() == last.rows()
    for step in range(6):
        assert local.scan("p/c/t", step=step).collect()["i"].to_list() == list(range(step + 1))


def test_explicit_step_behind_a_chain_is_refused_at_log(local: Any) -> None:
    """Another handle of the run moved a chain on: a step behind it is refused at log()."""
    a = local.init(id="two", sync=True)
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    t.add_data(0)
    a.log({"t": t}, step=10)
    b = local.init(id="two", resume="allow", sync=True)
    assert b.step == 11
    tb = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    tb.add_data(1)
    with pytest.raises(tablelog.RunError, match="steps only move forward"):
        b.log({"t": tb}, step=3)
    b.log({"t": tb})
    a.finish()
    b.finish()
    assert local.history("p/two/t")["step"].to_list() == [10, 11]


def test_scan_at_step_with_interleaved_writers(local: Any) -> None:
    """Two handles of one run log one INCREMENTAL key with their own steps, which land
    interleaved: scan(step=s) is the newest version by which no step after s was
    logged, found by bisection all the same."""
    a = local.init(id="mix", sync=True)
    b = local.init(id="mix", resume="allow", sync=True)
    ta = tablelog.Table(columns=["w", "s"], log_mode="INCREMENTAL")
    tb = tablelog.Table(columns=["w", "s"], log_mode="INCREMENTAL")
    tb.add_data("b", 0)
    b.log({"t": tb}, step=0)  # b reads the chain once, here
    steps = [0]
    for s in range(1, 6):
        ta.add_data("a", 10 + s)
        a.log({"t": ta}, step=10 + s)
        tb.add_data("b", s)
        b.log({"t": tb}, step=s)  # behind a's: b counts its own steps
        steps += [10 + s, s]
    a.finish()
    b.finish()
    assert local.history("p/mix/t")["step"].to_list() == steps  # [0, 11, 1, 12, 2, ...]
    for s in range(-1, 17):
        expect = max((v for v in range(len(steps)) if max(steps[: v + 1]) <= s), default=-1)
        if expect < 0:
            with pytest.raises(tablelog.NotFoundError):
                local.scan("p/mix/t", step=s)
            continue
        got = local.scan("p/mix/t", step=s).collect()
        assert got.height == expect + 1, (s, got)
    assert tablelog.verify(root=local.root).ok
