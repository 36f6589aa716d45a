"""run.log hands an INCREMENTAL table's new plain rows to the commit thread unconverted
(tablelog/table/plain_rows.py, ``DeferredRows``): the caller's thread makes no Arrow
call, and the rows read back exactly as logged, whichever thread converts them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import tablelog
from tablelog.table.plain_rows import PlainRows

COLUMNS = ["step", "text", "loss", "ok", "emb"]


def _row(step: int, j: int) -> tuple[Any, ...]:
    emb = np.arange(4, dtype=np.float32) + step
    return (step, f"row {step}-{j} é", step / 3 + j, j % 2 == 0, emb)


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


def test_plain_rows_are_converted_off_the_callers_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    convert = PlainRows.convert

    def recorded(self: PlainRows, rows: Any) -> Any:
        threads.append(threading.current_thread().name)
        return convert(self, rows)

    monkeypatch.setattr(PlainRows, "convert", recorded)
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    with tablelog.init(project="p", root=str(tmp_path), id="r") as run:
        for step in range(40):
            for j in range(3):
                table.add_data(*_row(step, j))
            run.log({"inc": table}, step=step)
    # (the first log fixes the Table's types on the general path; the 39 others defer)
    assert len(threads) == 39
    assert threading.main_thread().name not in threads
    assert _read(tmp_path, "r") == _expected(40)


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
            for j in range(3):
                table.add_data(*_row(step, j))
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
