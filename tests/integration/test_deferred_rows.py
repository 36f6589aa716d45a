"""run.log hands an INCREMENTAL table's new plain rows to the commit thread unconverted
(tablelog/table/plain_rows.py, ``DeferredRows``): the caller's thread makes no Arrow
call, and the rows read back exactly as logged, whichever thread converts them."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tablelog
from tablelog.table.plain_rows import PlainRows

COLUMNS = ["step", "text", "loss", "ok", "emb"]


def _row(step: int, j: int) -> tuple[Any, ...]:
    emb = np.arange(4, dtype=np.float32) + step
    return (step, f"row {step}-{j} é", step / 3 + j, j % 2 == 0, emb)


def _add_step(table: tablelog.Table, step: int) -> None:
    for j in range(3):
        table.add_data(*_row(step, j))


def _expected(steps: int) -> list[dict[str, Any]]:
    return [
        {"step": s, "text": f"row {s}-{j} é", "loss": s / 3 + j, "ok": j % 2 == 0,
         "emb": [float(x + s) for x in range(4)]}
        for s in range(steps)
        for j in range(3)
    ]  # fmt: skip


def _read(root: Path, run_id: str) -> list[dict[str, Any]]:
    frame = tablelog.scan(f"p/{run_id}/inc", root=str(root)).collect()
    return frame.select(COLUMNS).to_dicts()


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread of each PlainRows.convert call, as they happen."""
    names: list[str] = []
    convert = PlainRows.convert

    def recorded(self: PlainRows, rows: Any) -> Any:
        names.append(threading.current_thread().name)
        return convert(self, rows)

    monkeypatch.setattr(PlainRows, "convert", recorded)
    return names


def test_plain_rows_are_converted_off_the_callers_thread(
    tmp_path: Path, threads: list[str]
) -> None:
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    with tablelog.init(project="p", root=str(tmp_path), id="r") as run:
        for step in range(40):
            _add_step(table, step)
            run.log({"inc": table}, step=step)
    # (the first log fixes the Table's types on the general path; the 39 others defer)
    assert len(threads) == 39
    assert threading.main_thread().name not in threads
    assert _read(tmp_path, "r") == _expected(40)


def test_a_relog_without_new_rows_converts_nothing(tmp_path: Path, threads: list[str]) -> None:
    """Logging the Table again before adding rows (another step's log of it) neither
    converts its rows on the caller's thread nor reads released ones back."""
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    with tablelog.init(project="p", root=str(tmp_path), id="r") as run:
        for step in range(20):
            _add_step(table, step)
            run.log({"inc": table}, step=2 * step)
            run.log({"inc": table}, step=2 * step + 1)
    assert threading.main_thread().name not in threads
    assert _read(tmp_path, "r") == _expected(20)


def test_arrays_written_into_after_the_log_read_back_as_logged(tmp_path: Path) -> None:
    """The caller reuses one buffer for every step's embeddings: each step's rows read
    back with the values they had when logged."""
    table = tablelog.Table(columns=["step", "emb"], log_mode="INCREMENTAL")
    buffer = np.zeros(4, dtype=np.float32)
    with tablelog.init(project="p", root=str(tmp_path), id="r") as run:
        for step in range(30):
            buffer[:] = step
            table.add_data(step, buffer)
            run.log({"inc": table}, step=step)
            buffer[:] = -1  # (before the commit thread converts the rows)
    got = tablelog.scan("p/r/inc", root=str(tmp_path)).collect()
    assert got["emb"].to_list() == [[float(s)] * 4 for s in range(30)]


def test_the_table_and_the_commit_thread_share_deferred_rows(tmp_path: Path) -> None:
    """The caller reads its Table (converting deferred rows itself) while the commit
    thread converts and commits them, and committed rows are released: every read, in
    memory and from the store, is the rows as logged."""
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    with tablelog.init(project="p", root=str(tmp_path), id="r") as run:
        for step in range(120):
            _add_step(table, step)
            run.log({"inc": table}, step=step)
            if step % 7 == 0:
                assert table.num_rows == 3 * (step + 1)
                assert table.get_column("step")[-3:] == [step] * 3
            if step % 11 == 0:
                frame = pl.from_arrow(table.to_arrow())
                assert isinstance(frame, pl.DataFrame)
                assert frame.select(COLUMNS).to_dicts() == _expected(step + 1)
            if step % 13 == 0:
                run.flush()  # (committed rows leave the Table's memory)
        assert table.to_arrow().num_rows == 360
    assert _read(tmp_path, "r") == _expected(120)


def test_history_rows_of_plain_values_are_converted_off_the_callers_thread(
    tmp_path: Path, threads: list[str]
) -> None:
    with tablelog.init(project="p", root=str(tmp_path), id="r") as run:
        for step in range(30):
            run.log({"loss": 1 / (step + 1), "epoch": step // 10, "phase": "train", "ok": True})
    assert len(threads) == 30 and threading.main_thread().name not in threads
    got = tablelog.scan("p/r/_history", root=str(tmp_path)).collect()
    assert got["loss"].to_list() == [1 / (s + 1) for s in range(30)]
    assert got["epoch"].to_list() == [s // 10 for s in range(30)]
    assert got["phase"].to_list() == ["train"] * 30 and got["ok"].to_list() == [True] * 30


#: One value type per history key (a key keeps its type), all of them plain values;
#: a row with a NaN takes the path that converts it in run.log.
_VALUES = {
    "i": st.integers(-(2**63), 2**63 - 1),
    "n": st.integers(-(2**53), 2**53) | st.floats(allow_nan=False),  # (ints, then floats)
    "f": st.floats(allow_nan=True, allow_infinity=True),
    "s": st.text(max_size=5),
    "b": st.booleans(),
}
_LOG = st.tuples(st.fixed_dictionaries({}, optional=_VALUES), st.booleans())


@settings(max_examples=60, deadline=None)
@given(st.lists(_LOG, min_size=1, max_size=12))
def test_history_values_read_back_as_logged(
    tmp_path_factory: pytest.TempPathFactory, logs: list[tuple[dict[str, Any], bool]]
) -> None:
    """Steps of plain values, some built over several logs (``commit=False``): each row
    reads back with the values logged at its step, NaN as null."""
    root = tmp_path_factory.mktemp("history")
    expected: dict[int, dict[str, Any]] = {}
    with tablelog.init(project="p", root=str(root), id="r") as run:
        for step, (values, commit) in enumerate(logs):
            run.log(values, step=step, commit=commit or None)
            if values:
                expected.setdefault(step, {}).update(values)
    if not expected:
        return
    got = tablelog.scan("p/r/_history", root=str(root)).collect()
    rows = {r["_step"]: r for r in got.to_dicts()}
    assert set(rows) == set(expected)
    for step, values in expected.items():
        for key, value in values.items():
            have = rows[step][key]
            if isinstance(value, float) and math.isnan(value):
                assert have is None
            elif key == "n":  # (a key holding ints and floats reads back as floats)
                assert have == value and repr(float(have)) == repr(float(value)), (step, key)
            else:  # (repr: -0.0 is not 0.0)
                assert repr(have) == repr(value) and type(have) is type(value), (step, key)
