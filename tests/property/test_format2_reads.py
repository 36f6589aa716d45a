"""Reading format 2 (docs/format.md, "Reading format 2"): however INCREMENTAL logs were
grouped into commits, and whether a commit keeps each log's rows in its own object or
all of them in one object with ``_increment``, the readers give what one version per
log would: ``scan(increment=i)`` is log ``i``'s rows, ``scan(step=s)`` the logs up to
the newest one whose (high) step is at most ``s`` (inside a commit, too),
``scan(version=v)`` the logs of commits ``0..v``, and ``history(per="increment")`` one
row per log. Written on a local root through the format layer (tests/integration/
format2_writes.py); a compaction may come between commits."""

from __future__ import annotations

import sys
import tempfile
from itertools import accumulate
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablelog
from tablelog.format.handle import TableHandle
from tablelog.format.state import TableState
from tablelog.objects.open import open_store

sys.path.insert(0, str(Path(__file__).parents[1] / "integration"))
from format2_writes import Log, commit_group, compact

PATH = "p/r/eval"


#: A log: its step and its row count; a commit: its logs and whether they share one
#: object; between commits, maybe a compaction.
commits = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(0, 30), st.integers(0, 3)), min_size=1, max_size=5),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


def _rows(first_id: int, n: int, wide: bool) -> pa.Table:
    ids = pa.array(range(first_id, first_id + n), pa.int64())
    if wide:  # a column only some logs have (the schema widens)
        return pa.table({"i": ids, "x": pa.array([v * 10 for v in range(n)], pa.int64())})
    return pa.table({"i": ids})


def _ids(frame: pl.LazyFrame) -> list[int]:
    return frame.collect()["i"].to_list()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commits)
def test_reads_select_logs_however_they_were_committed(
    plan: list[tuple[list[tuple[int, int]], bool, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as root:
        tablelog.clear_caches()
        ref = TableHandle(open_store(root), "p", "r", "eval")
        state = TableState()
        logs: list[tuple[int, list[int]]] = []  # (step, row ids) per log, in order
        holder: list[int] = []  # the version holding each log
        for logs_spec, combine, then_compact in plan:
            batch = []
            for step, n in logs_spec:
                start = sum(len(ids) for _, ids in logs)
                start += sum(len(b.rows) for b in batch)
                batch.append(Log(step, _rows(start, n, wide=(len(logs) + len(batch)) % 3 == 1)))
            state = commit_group(ref, state, batch, combine=combine)
            for log in batch:
                logs.append((log.step or 0, log.rows.column("i").to_pylist()))
                holder.append(state.version)
            if then_compact:
                everything = tablelog.scan(PATH, root=root).collect().to_arrow()
                state = compact(ref, state, everything)
        kw = {"root": root}
        # Every log, in order, with its number.
        whole = tablelog.scan(PATH, **kw).collect()
        assert whole["i"].to_list() == [i for _, ids in logs for i in ids]
        numbers = [n for n, (_, ids) in enumerate(logs) for _ in ids]
        assert whole["_increment"].to_list() == numbers
        for n, (_, ids) in enumerate(logs):
            assert _ids(tablelog.scan(PATH, increment=n, **kw)) == ids
        with pytest.raises(tablelog.NotFoundError):
            tablelog.scan(PATH, increment=len(logs), **kw)
        # step=: the logs up to the newest whose high step is at most s.
        highs = list(accumulate((s for s, _ in logs), max))
        for s in range(0, 32, 3):
            upto = [k for k, h in enumerate(highs) if h <= s]
            if not upto:
                with pytest.raises(tablelog.NotFoundError):
                    tablelog.scan(PATH, step=s, **kw)
                continue
            want = [i for _, ids in logs[: upto[-1] + 1] for i in ids]
            assert _ids(tablelog.scan(PATH, step=s, **kw)) == want, s
        # version=: the logs of commits 0..v.
        for v in sorted(set(holder)):
            want = [i for (_, ids), h in zip(logs, holder, strict=True) if h <= v for i in ids]
            assert _ids(tablelog.scan(PATH, version=v, **kw)) == want
        # history(per="increment"): one row per log.
        hist = tablelog.history(PATH, per="increment", **kw)
        assert hist["increment"].to_list() == list(range(len(logs)))
        assert hist["step"].to_list() == [s for s, _ in logs]
        assert hist["rows"].to_list() == [len(ids) for _, ids in logs]
        assert hist["version"].to_list() == holder
        assert hist["log_id"].str.len_chars().to_list() == [32] * len(logs)
