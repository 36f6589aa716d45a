"""State machine over one SeaweedFS root (issue 22): a writer in every log mode with
``add_column``, compactions (some racing the writer), ``gc --delete``, two ``sync``
processes' worth of pushers on one spool at once, restarts, and writers killed with
SIGKILL mid-log. After every step, every committed version of every table reads back
exactly the rows that were logged for it, and ``verify --deep`` finds nothing wrong.

The model is the list of logical states of each table, one per log, in log order; a
version is either a log (the next state) or a compaction (the previous state again),
which its manifest says (``extra.operation``). Bounded: a few examples of a few steps
(see ``SETTINGS``); the counts are printed (``-s``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import tablelog
from tablelog.errors import CommitConflictError
from tablelog.format import chain, paths
from tablelog.format.chain import STATES, TableRef, latest_version, read_history
from tablelog.format.hint import encode_hint
from tablelog.objects import open_store
from tablelog.writer.keylog import KeyLog
from tablelog.writer.spool import Spool

pytestmark = pytest.mark.s3

SETTINGS = settings(
    max_examples=10,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same runs every time: a bounded, reproducible search
)
ZERO = dt.timedelta(0)

#: A process that imports tablelog once and forks a writer per line of stdin (so a
#: kill costs a fork, not an interpreter start); the writer logs one row per step to
#: INCREMENTAL key ``k<n>`` until it is killed.
ZYGOTE = textwrap.dedent(
    """
    import json, os, sys
    import tablelog

    for line in sys.stdin:
        cfg = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                run = tablelog.init(project="p", id="r", resume="allow", root=cfg["root"],
                                    sync=cfg["sync"])
                os.write(1, f"ready {os.getpid()}\\n".encode())
                t = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
                for i in range(100_000):
                    t.add_data(i)
                    run.log({cfg["key"]: t})
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(f"reaped {status}", flush=True)
    """
)


class Zygote:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **env, "PYTHONPATH": os.pathsep.join(sys.path)},
        )

    def _line(self) -> str:
        assert self.proc.stdout is not None
        out = self.proc.stdout.readline()
        assert out, f"zygote exited with {self.proc.wait()}"
        return out.strip()

    def kill_writer(self, root: str, key: str, delay: float, sync: bool) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"root": root, "key": key, "sync": sync}) + "\n")
        self.proc.stdin.flush()
        ready = self._line()
        assert ready.startswith("ready "), ready
        time.sleep(delay)
        os.kill(int(ready.split()[1]), signal.SIGKILL)
        assert self._line() == f"reaped {signal.SIGKILL}"

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


State = tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]  # (columns, rows)
COUNTS: dict[str, int] = {}


def _count(what: str) -> None:
    COUNTS[what] = COUNTS.get(what, 0) + 1


class StoreMachine(RuleBasedStateMachine):
    where: Any
    zygote: Zygote
    scratch: Path
    roots = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        n = next(self.roots)
        self.root = f"{self.where.root}/m{n}"
        self.opts = self.where.storage_options
        self.spool_dir = self.scratch / f"spool{n}"
        self.states: dict[str, list[State]] = {}
        self.checked: dict[str, int] = {}  # key -> versions already read back
        self.kills = 0
        self.rng = random.Random(n)
        self.run: tablelog.Run | None = None
        self.inc = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
        self.mut = tablelog.Table(columns=["a"], log_mode="MUTABLE")
        self.inc_rows: list[tuple[Any, ...]] = []
        self.counter = itertools.count()
        self.spooled = 0
        _count("examples")

    # ------------------------------------------------------------------ helpers

    def _kw(self) -> dict[str, Any]:
        return {"root": self.root, "storage_options": self.opts}

    def _open(self) -> tablelog.Run:
        return tablelog.init(project="p", id="r", resume="allow", **self._kw())

    def _push(self, key: str, state: State) -> None:
        self.states.setdefault(key, []).append(state)

    def _mut_state(self) -> State:
        cols = tuple(self.mut.columns)
        return cols, tuple(tuple(r) for r in self.mut.data)

    def _log(self, data: dict[str, tablelog.Table]) -> None:
        assert self.run is not None
        self.run.log(data)
        self.run.flush()

    # -------------------------------------------------------------------- rules

    @initialize()
    def start(self) -> None:
        self.run = self._open()

    @rule(rows=st.integers(1, 3))
    def log_incremental(self, rows: int) -> None:
        for _ in range(rows):
            v = next(self.counter)
            self.inc.add_data(v)
            self.inc_rows.append((v,))
        self._log({"inc": self.inc})
        self._push("inc", (("v",), tuple(self.inc_rows)))
        _count("log INCREMENTAL")

    @rule()
    def log_mutable_row(self) -> None:
        v = next(self.counter)
        self.mut.add_data(v, *[f"{c}-{v}" for c in self.mut.columns[1:]])
        self._log({"mut": self.mut})
        self._push("mut", self._mut_state())
        _count("log MUTABLE row")

    @precondition(lambda self: self.mut.num_rows > 0 and len(self.mut.columns) < 4)
    @rule()
    def add_column(self) -> None:
        name = f"c{len(self.mut.columns)}"
        self.mut.add_column(name, [f"{name}-{i}" for i in range(self.mut.num_rows)])
        self._log({"mut": self.mut})
        self._push("mut", self._mut_state())
        _count("MUTABLE add_column")

    @rule(rows=st.integers(0, 3))
    def log_immutable(self, rows: int) -> None:
        data = [[next(self.counter)] for _ in range(rows)]
        self._log({"imm": tablelog.Table(columns=["x"], data=data)})
        self._push("imm", (("x",), tuple(tuple(r) for r in data)))
        _count("log IMMUTABLE")

    @precondition(lambda self: "mut" in self.states or "inc" in self.states)
    @rule(key=st.sampled_from(["inc", "mut"]), race=st.booleans())
    def compact(self, key: str, race: bool) -> None:
        """Compact a table; with ``race``, the writer logs to it after the compaction
        read the rows and before it commits (its progress hook: a deterministic race)."""
        if key not in self.states:
            return
        raced: list[bool] = []

        def writer_strikes(what: str, done: int, total: int | None) -> None:
            if race and what == "read fragments" and done == total and not raced:
                raced.append(True)
                if key == "mut" and len(self.mut.columns) < 4:
                    self.add_column()
                elif key == "mut":
                    self.log_mutable_row()
                else:
                    self.log_incremental(1)

        try:
            tablelog.compact(f"p/r/{key}", **self._kw(), min_fragments=1, progress=writer_strikes)
        except CommitConflictError:  # lost to the writer: nothing committed
            _count("compact lost its race")
        _count(f"compact{' racing the writer' if raced else ''}")

    @rule()
    def crash_writer(self) -> None:
        """The writer dies after its logs landed (finish() never runs, so run.json keeps
        an old last_step) and the run is resumed."""
        assert self.run is not None
        self.run.finish()
        # What a crash leaves: run.json as the handle's start wrote it (an unfinished
        # handle would still be finished at interpreter exit, long after this test).
        store = open_store(self.root, storage_options=self.opts)
        key = paths.run_json_key("p", "r")
        info = json.loads(store.get(key))
        store.put(key, json.dumps({**info, "status": "running", "last_step": None}).encode())
        self._forge_hint()
        self.run = self._open()
        self.inc = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
        _count("crash and resume")

    @rule()
    def restart_writer(self) -> None:
        """finish() and resume the run with a new handle (new INCREMENTAL Table)."""
        assert self.run is not None
        self.run.finish()
        self._forge_hint()
        self.run = self._open()
        self.inc = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
        _count("restart")

    @rule()
    def gc_delete(self) -> None:
        tablelog.gc(**self._kw(), min_age=ZERO, dry_run=False, allow_short_grace=True)
        self.checked.clear()  # every version is read back again
        _count("gc --delete")

    @rule(n=st.integers(1, 6))
    def two_syncs_at_once(self, n: int) -> None:
        """A writer's spool of ``n`` logs of key "s", pushed by two syncs at once."""
        store = open_store(self.root, storage_options=self.opts)
        base = latest_version(TableRef(store, "p", "r", "s"))
        folder = self.spool_dir / str(self.spooled)
        self.spooled += 1
        spool = Spool(folder / "p" / "r" / "writer")
        keylog = KeyLog(key="s", path="p/r/s")
        t = tablelog.Table(columns=["v"], log_mode="INCREMENTAL")
        rows = list(self.states["s"][-1][1]) if "s" in self.states else []
        states = []
        for _ in range(n):
            v = next(self.counter)
            t.add_data(v)
            rows.append((v,))
            job = keylog.prepare(t, step=None, separate=False)
            assert job is not None
            keylog.confirm()  # (as Run does once the job is handed over)
            spool.add(job, root=self.root, project="p", run_id="r", base=base, ranges=[])
            states.append((("v",), tuple(rows)))
        results: list[Any] = []

        def one() -> None:
            try:
                results.append(tablelog.sync(folder, storage_options=self.opts))
            except BaseException as e:  # reported below
                results.append(e)

        threads = [threading.Thread(target=one) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert all(isinstance(r, tuple) for r in results), results
        assert sum(r[0] for r in results) == n  # each log committed once
        for s in states:
            self._push("s", s)
        _count("two syncs at once")

    @precondition(lambda self: self.kills < 1)
    @rule(delay=st.floats(0.05, 0.4), sync=st.booleans())
    def sigkill_writer(self, delay: float, sync: bool) -> None:
        """Another process logs to key k<n> and is killed mid-log: whatever versions
        landed hold rows 0..version."""
        key = f"k{self.kills}"
        self.kills += 1
        self.zygote.kill_writer(self.root, key, delay, sync)
        store = open_store(self.root, storage_options=self.opts)
        ref = TableRef(store, "p", "r", key)
        landed = latest_version(ref)
        logs = landed + 1  # (format 1: a version per log; format 2: its increments)
        if landed >= 0 and (count := ref.read_manifest(landed)[0].increment_count) is not None:
            logs = count
        for v in range(logs):  # (each log adds one row)
            self._push(key, (("v",), tuple((i,) for i in range(v + 1))))
        _count("SIGKILL")

    def _forge_hint(self) -> None:
        """Overwrite (or delete) a table's latest-version hint with a wrong one, as a
        crashed or foreign writer may leave it: readers must still find the newest
        version. Chosen with ``self.rng``, not drawn, so that hypothesis explores the
        same rules as without it."""
        if not self.states:
            return
        key = self.rng.choice(sorted(self.states))
        hows = ["stale", "beyond", "far", "garbage", "gone", "kept", "stale copies", "bad copies"]
        how = self.rng.choice(hows)
        store = open_store(self.root, storage_options=self.opts)
        ref = TableRef(store, "p", "r", key)
        newest = latest_version(ref)
        stale = max(newest - 1 - self.rng.randrange(40), 0)

        def copies(n: int, change: bool) -> dict[int, bytes]:
            """Manifests n - 1 and n as stored, or each with one byte more."""
            out = {}
            for v in (n - 1, n):
                if v >= 0 and (data := store.get_many_or_none([ref.version_key(v)])[0]):
                    out[v] = data.replace(b'{"', b'{ "', 1) if change else data
            return out

        if how == "gone":
            store.delete(ref.hint_key)
        elif how == "stale copies":  # (a copy is only taken where its MD5 is listed)
            store.put(ref.hint_key, encode_hint(stale, copies(stale, False)))
        elif how == "bad copies":
            store.put(ref.hint_key, encode_hint(max(newest, 0), copies(max(newest, 0), True)))
        elif how != "kept":
            store.put(ref.hint_key, {
                "stale": encode_hint(stale),
                "beyond": encode_hint(newest + 1 + self.rng.randrange(3)),
                "far": encode_hint(newest + 10**6),
                "garbage": b'{"version":' + bytes([self.rng.randrange(256)]),
            }[how])  # fmt: skip
        _count(f"hint {how}")

    # --------------------------------------------------------------- invariants

    @invariant()
    def no_hint_makes_a_reader_see_a_wrong_version(self) -> None:
        """A cold reader (hint first) finds what listing every manifest name finds."""
        store = open_store(self.root, storage_options=self.opts)
        for key in self.states:
            ref = TableRef(store, "p", "r", key)
            names = {paths.parse_version_name(k.rsplit("/", 1)[-1])
                     for k in store.list(ref.versions_prefix)}  # fmt: skip
            truth = -1
            while truth + 1 in names:
                truth += 1
            STATES.clear()
            assert latest_version(ref) == truth, (key, truth)

    @invariant()
    def every_version_reads_what_was_logged(self) -> None:
        store = open_store(self.root, storage_options=self.opts)
        for key, states in self.states.items():
            ref = TableRef(store, "p", "r", key)
            history = read_history(ref, latest_version(ref))
            logical = -1
            for v, (m, _) in enumerate(history):
                if m.increment_count is not None:  # format 2: a commit may hold several logs
                    logical = m.increment_count - 1
                elif m.extra.get("operation") != "compact":
                    logical += 1
                if v < self.checked.get(key, 0):
                    continue
                cols, rows = states[logical]
                df = tablelog.scan(f"p/r/{key}", **self._kw(), version=v).collect()
                df = df.drop("_increment", strict=False)
                assert tuple(df.columns) == cols, (key, v, df.columns, cols)
                assert tuple(df.rows()) == rows, (key, v, df, rows)
                _count("versions read back")
            assert logical == len(states) - 1, (key, logical, len(states))
            steps = [m.step for m, _ in history if m.step is not None]
            assert steps == sorted(steps), (key, "steps went back", steps)
            self.checked[key] = len(history)

    @invariant()
    def verify_deep_is_clean(self) -> None:
        if not self.states:
            return
        report = tablelog.verify(**self._kw(), deep=True)
        assert report.ok, [str(p) for p in report.problems]
        _count("verify --deep")

    def teardown(self) -> None:
        if self.run is not None:
            self.run.finish()


@pytest.fixture
def zygote(seaweedfs_where: Any) -> Iterator[Zygote]:
    z = Zygote(seaweedfs_where.env)
    yield z
    z.close()


def test_store_state_machine(
    seaweedfs_where: Any, zygote: Zygote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Readers take SeaweedFS for a near store whatever the load: the hint check lists
    # manifests and uses the hint's copies (the path forged copies must not fool).
    monkeypatch.setattr(chain, "NEAR_STORE_S", math.inf)
    StoreMachine.where = seaweedfs_where
    StoreMachine.zygote = zygote
    StoreMachine.scratch = tmp_path
    COUNTS.clear()
    start = time.monotonic()
    run_state_machine_as_test(StoreMachine, settings=SETTINGS)
    took = time.monotonic() - start
    print(f"\nstore state machine: {took:.0f} s, {json.dumps(COUNTS, sort_keys=True)}")
    assert COUNTS["examples"] >= SETTINGS.max_examples
