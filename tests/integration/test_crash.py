"""Crash consistency: a writer killed with SIGKILL at a random instant leaves every
version readable, a root that verifies (apart from unreferenced objects, which gc
removes), and a run that resumes where it stopped.

Starting Python with tablelog and Polars costs ~0.5 s, so one *zygote* process imports
everything once and forks a fresh writer per trial; the writer is what gets killed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import scale

import tablelog
from tablelog.format.chain import WRITE_FORMAT_VARIABLE, write_format
from tablelog.format.handle import list_tables
from tablelog.objects import open_store

pytestmark = pytest.mark.slow

ROWS = 3  # rows per INCREMENTAL log

ZYGOTE = textwrap.dedent(
    """
    import json, os, sys
    import tablelog

    def write(cfg):
        run = tablelog.init(project="crash", id=cfg["id"], root=cfg["root"], sync=cfg["sync"])
        os.write(1, f"ready {os.getpid()}\\n".encode())
        inc = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
        mut = tablelog.Table(columns=["i"], log_mode="MUTABLE")
        n = 0
        for step in range(10_000):
            for _ in range(ROWS):
                inc.add_data(n, f"s{n}")
                n += 1
            mut.add_data(*[step] * len(mut.columns))
            if step in (2, 12, 33):  # MUTABLE new column: a group added to every fragment
                mut.add_column(f"c{step}", [step] * mut.num_rows)
            run.log({"inc": inc, "mut": mut, "loss": step / 2}, step=step)

    # Warm up (first Parquet write, imports) so a trial's delay is spent logging.
    with tablelog.init(project="warm", root=sys.argv[1], sync=True) as run:
        run.log({"t": tablelog.Table(columns=["i", "s"], data=[[0, "s"]])})
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                write(json.loads(line))
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(f"reaped {status}", flush=True)
    """
).replace("ROWS", str(ROWS))


class Zygote:
    def __init__(self, env: dict[str, str], scratch: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(scratch)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )

    def line(self) -> str:
        assert self.proc.stdout is not None
        out = self.proc.stdout.readline()
        assert out, f"zygote exited with {self.proc.wait()}"
        return out.strip()

    def crash(self, root: str, run_id: str, delay: float, sync: bool) -> None:
        """Start a writer, let it log for ``delay`` s after init, then SIGKILL it.

        ``sync=False`` writers commit on their background thread, so the kill also
        lands between queueing, uploading and committing there."""
        assert self.proc.stdin is not None
        cfg = {"root": root, "id": run_id, "sync": sync}
        self.proc.stdin.write(json.dumps(cfg) + "\n")
        self.proc.stdin.flush()
        ready = self.line()
        assert ready.startswith("ready "), ready
        time.sleep(delay)
        os.kill(int(ready.split()[1]), signal.SIGKILL)
        reaped = self.line()
        assert reaped == f"reaped {signal.SIGKILL}", reaped  # it had not died on its own

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0
        self.proc.stdout.close()


@pytest.fixture
def zygote_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Zygote] = []

    def make(env: dict[str, str]) -> Zygote:
        made.append(Zygote(env, tmp_path / f"warm{len(made)}"))
        return made[-1]

    yield make
    for z in made:
        if z.proc.poll() is None:
            z.proc.kill()
            z.proc.wait()
        for f in (z.proc.stdin, z.proc.stdout):
            if f is not None and not f.closed:
                f.close()


def _check_after_crash(kw: dict[str, Any], run_id: str, local_root: Path | None) -> dict[str, int]:
    store = open_store(kw["root"], storage_options=kw["storage_options"])
    versions = {}
    hist_keys = sorted(list_tables(store, "crash", run_id))
    for key in hist_keys:
        path = f"crash/{run_id}/{key}"
        hist = tablelog.history(path, **kw)
        assert hist["version"].to_list() == list(range(hist.height))
        for v, rows in hist.select("version", "rows").iter_rows():
            df = tablelog.scan(path, version=v, **kw).collect()
            assert df.height == rows, (path, v)
            if key == "inc":
                assert df["i"].to_list() == list(range(rows))
                assert df["_increment"].to_list() == [i // ROWS for i in range(rows)]
        versions[key] = hist.height
        if key in ("inc", "_history") and write_format() == 2:
            # Format 2: however the logs were grouped, the increments are 0..n-1 with no
            # gap and no log twice, each a whole log.
            incs = tablelog.history(path, **kw, per="increment")
            assert incs["increment"].to_list() == list(range(incs.height)), path
            assert incs["log_id"].n_unique() == incs.height, path
            if key == "inc":
                assert set(incs["rows"].to_list()) <= {ROWS}, path
                versions["inc_increments"] = incs.height
                per_version = incs["version"].value_counts()["count"]
                versions["coalesced"] = int(per_version.max() or 0)
    report = tablelog.verify(**kw)
    assert report.ok, report.problems
    assert report.versions == sum(v for k, v in versions.items() if k in hist_keys)
    before = set(store.list("objects/"))
    gc = tablelog.gc(**kw, min_age=dt.timedelta(0), dry_run=False, allow_short_grace=True)
    assert gc.ok and not gc.spared
    after = set(store.list("objects/"))
    deleted_objects = {g.key for g in gc.garbage if g.key.startswith("objects/")}
    removed = before - after
    # .tmp-* files (local) are listed by gc but hidden from listings.
    assert removed == {k for k in deleted_objects if "/.tmp-" not in k}
    assert len(removed) == report.unreferenced
    if local_root is not None:
        assert not [p for p in local_root.rglob(".tmp-*")]
    clean = tablelog.verify(**kw)
    assert clean.ok and clean.unreferenced == 0 and clean.objects == report.objects
    # Resume: a new Table under the INCREMENTAL key appends the next version.
    prev_rows = 0
    if versions.get("inc"):
        prev_rows = tablelog.history(f"crash/{run_id}/inc", **kw)["rows"][-1]
    with tablelog.init("crash", id=run_id, resume="must", sync=True, **kw) as run:
        t = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
        for i in range(prev_rows, prev_rows + ROWS):
            t.add_data(i, f"s{i}")
        run.log({"inc": t})
    hist = tablelog.history(f"crash/{run_id}/inc", **kw)
    assert hist.height == versions.get("inc", 0) + 1
    df = tablelog.scan(f"crash/{run_id}/inc", **kw).collect()
    assert df["i"].to_list() == list(range(prev_rows + ROWS))
    if write_format() == 2:
        assert df["_increment"].to_list() == [i // ROWS for i in range(prev_rows + ROWS)]
    assert tablelog.verify(**kw).ok
    return {"removed": len(removed), **versions}


def _trials(
    where: Any,
    zygote: Zygote,
    n: int,
    seed: int,
    local: bool,
    max_delay: float = 0.3,
    first: int = 0,
) -> list[dict[str, int]]:
    """Crash ``n`` writers one after the other; check each crashed root meanwhile."""
    rng = random.Random(seed)
    checks = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i in range(first, first + n):
            root = f"{where.root}/t{i}"
            zygote.crash(root, f"r{i}", rng.uniform(0, max_delay), sync=i % 2 == 0)
            kw = {"root": root, "storage_options": where.storage_options}
            local_root = Path(root) if local else None
            checks.append(pool.submit(_check_after_crash, kw, f"r{i}", local_root))
        return [c.result() for c in checks]


def _exercised(results: list[dict[str, int]], start: float) -> bool:
    """Whether the trials did exercise the interesting cases (printed with -s): a writer
    killed past ten versions (format 2: ten logs, and a commit of several), and debris
    for gc."""
    print(
        f"{len(results)} trials in {time.monotonic() - start:.1f} s; versions of inc: "
        f"{sorted(r.get('inc', 0) for r in results)}; trials with debris: "
        f"{sum(r['removed'] > 0 for r in results)}; most logs in one commit: "
        f"{sorted(r.get('coalesced', 1) for r in results)}"
    )
    debris = any(r["removed"] for r in results)
    if write_format() == 2:
        far = max(r.get("inc_increments", 0) for r in results) > 10
        return far and debris and max(r.get("coalesced", 0) for r in results) > 1
    return max(r.get("inc", 0) for r in results) > 10 and debris


def _trials_until_exercised(
    where: Any, zygote: Zygote, n: int, seed: int, local: bool, max_delay: float
) -> None:
    """``_trials``, then, while a loaded machine kept every writer from getting far
    before its kill, a few more trials with doubled delays (at most three rounds)."""
    start = time.monotonic()
    results = _trials(where, zygote, n, seed, local, max_delay)
    for extra in range(3):
        if _exercised(results, start):
            return
        max_delay *= 2
        more = _trials(where, zygote, 5, seed + 100 + extra, local, max_delay, len(results))
        results += more
    assert _exercised(results, start), "no trial killed a writer past 10 versions with debris"


def test_sigkill_local_format_1(
    local: Any, zygote_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers of format 1 (``$TABLELOG_WRITE_FORMAT=1``): one version per log."""
    monkeypatch.setenv(WRITE_FORMAT_VARIABLE, "1")
    zygote = zygote_factory({WRITE_FORMAT_VARIABLE: "1"})
    try:
        _trials_until_exercised(local, zygote, 50, seed=5, local=True, max_delay=0.3)
    finally:
        zygote.close()


def test_sigkill_local_coalesced(local: Any, zygote_factory: Any) -> None:
    """Format 2: a writer killed while its commit thread groups logs leaves each key at
    a whole commit: increments without a gap, no log twice."""
    zygote = zygote_factory({})
    try:
        _trials_until_exercised(local, zygote, 30, seed=11, local=True, max_delay=0.3)
    finally:
        zygote.close()


@pytest.mark.s3
@pytest.mark.scaled
def test_sigkill_seaweedfs_format_1(
    seaweedfs_where: Any, zygote_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WRITE_FORMAT_VARIABLE, "1")
    zygote = zygote_factory({**seaweedfs_where.env, WRITE_FORMAT_VARIABLE: "1"})
    n = scale.pick(25, 50)
    try:
        _trials_until_exercised(seaweedfs_where, zygote, n, seed=7, local=False, max_delay=1.0)
    finally:
        zygote.close()


@pytest.mark.s3
@pytest.mark.scaled
def test_sigkill_seaweedfs_coalesced(seaweedfs_where: Any, zygote_factory: Any) -> None:
    zygote = zygote_factory(seaweedfs_where.env)
    n = scale.pick(12, 25)
    try:
        _trials_until_exercised(seaweedfs_where, zygote, n, seed=13, local=False, max_delay=1.0)
    finally:
        zygote.close()
