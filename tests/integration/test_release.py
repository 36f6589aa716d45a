"""Committed INCREMENTAL rows leave the writer's memory and read back unchanged."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import tablelog
from tablelog import FormatError
from tablelog.format import paths
from tablelog.format.chain import TableRef, load_version
from tablelog.objects.open import open_store


def _rows(step: int) -> list[tuple[Any, ...]]:
    image = tablelog.Image(np.full((4, 6, 3), step, dtype=np.uint8), caption=f"s{step}")
    return [
        (
            step * 10 + j,
            float(j) / 3,
            f"text {step}-{j}",
            np.arange(3, dtype=np.float32) + step,
            {"k": j, "s": [step, j]},
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=step),
            decimal.Decimal("1.25") * j,
            None if j == 1 else True,
            image,
        )
        for j in range(3)
    ]


COLUMNS = ["i", "x", "s", "emb", "d", "t", "dec", "flag", "img"]


def _log(where: Any, run_id: str, steps: int, **kw: Any) -> tablelog.Table:
    table = tablelog.Table(columns=COLUMNS, log_mode="INCREMENTAL")
    with where.init(id=run_id, **kw) as run:
        for step in range(steps):
            for row in _rows(step):
                table.add_data(*row)
            run.log({"inc": table}, step=step)
            if step == steps // 2:
                run.flush()
                # Everything logged so far is committed and released (unless kept).
                expected = 0 if kw.get("keep_logged_rows") else 3 * (step + 1)
                assert table._spilled.rows == expected
    return table


def test_released_rows_read_back_like_kept_ones(where: Any) -> None:
    released = _log(where, "rel", 8)
    kept = _log(where, "kept", 8, keep_logged_rows=True)
    assert released._spilled.rows == 24 and released._arrow is not None
    assert released._arrow.num_rows == 0 and not released._tail  # nothing left in memory
    assert kept._spilled.rows == 0
    assert released.num_rows == kept.num_rows == len(released) == 24
    assert released.to_arrow().equals(kept.to_arrow())
    assert released.data == kept.data
    assert released.get_column("i") == [s * 10 + j for s in range(8) for j in range(3)]
    np.testing.assert_array_equal(
        released.get_column("emb", convert_to="numpy"), kept.get_column("emb", convert_to="numpy")
    )
    frame = released.get_dataframe()  # (object cells: pandas' equals cannot compare them)
    assert frame.shape == (24, 9) and frame["s"].tolist() == kept.get_column("s")
    # The seed's example 4: an IMMUTABLE copy of an incrementally logged table.
    with where.init(id="copy") as run:
        run.log({"final": tablelog.Table(columns=released.columns, data=released.data)})
    final = where.scan("p/copy/final").collect()
    assert final["i"].to_list() == released.get_column("i")


def test_logging_after_release_continues_the_table(local: Any) -> None:
    table = tablelog.Table(columns=["i", "x"], log_mode="INCREMENTAL")
    with local.init(id="r") as run:
        for step in range(6):
            table.add_data(step, step / 2)
            run.log({"inc": table}, step=step)
            run.flush()
        table.add_data(6, 1)  # an int in a float column: the column stays float
        run.log({"inc": table}, step=6)
        run.log({"other": table}, step=7)  # the whole Table under a second key
    assert table.get_column("x") == [s / 2 for s in range(6)] + [1.0]
    assert local.scan("p/r/other").collect()["i"].to_list() == list(range(7))
    assert local.scan("p/r/inc").collect()["i"].to_list() == list(range(7))


def test_arrow_memory_stays_flat_while_logging(local: Any) -> None:
    """Arrow's own allocator counts the Table's buffers: with released rows it stays
    at the pending increments; with keep_logged_rows it grows with every log."""

    def grown(**kw: Any) -> tuple[int, int]:
        table = tablelog.Table(columns=["i", "v"], log_mode="INCREMENTAL")
        marks = []
        with local.init(**kw) as run:
            base = pa.total_allocated_bytes()
            for step in range(200):
                for j in range(500):
                    table.add_data(step * 500 + j, [float(j)] * 8)
                run.log({"inc": table}, step=step)
                if step in (49, 199):
                    run.flush()  # commits, and hands the committed rows to the Table
                    marks.append(pa.total_allocated_bytes() - base)
        assert table.num_rows == 100_000
        return marks[0], marks[1]

    quarter, end = grown()
    kept_quarter, kept_end = grown(keep_logged_rows=True)
    assert kept_end > 3 * kept_quarter > 0  # kept rows grow with the log (~ 100k x 72 B)
    assert end < kept_end / 20 and end <= max(quarter, 1) * 1.5


def _one_row_per_log(root: str, steps: int) -> tablelog.Table:
    """A Table of ``i`` logged one row per step into p/r/inc, released when done; a
    version (and an object) per log (sync), so one log's object can be damaged alone."""
    table = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    with tablelog.init(project="p", id="r", root=root, sync=True) as run:
        for step in range(steps):
            table.add_data(step)
            run.log({"inc": table}, step=step)
    return table


def _damage_increment(root: str, increment: int) -> None:
    """Flip the last byte of the object the log of one increment of p/r/inc wrote (the
    last fragment of its version; a later version may list its rows merged)."""
    store = open_store(root)
    ref = TableRef(store, "p", "r", "inc")
    state = load_version(ref, increment)
    obj = Path(root) / paths.object_key(state.fragments[-1].groups[0].object)
    obj.write_bytes(obj.read_bytes()[:-1] + b"\0")


def test_a_released_object_changed_in_the_store_is_refused(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    table = _one_row_per_log(root, 3)
    _damage_increment(root, 1)
    with pytest.raises(FormatError, match="corrupt"):
        table.to_arrow()


def _released_vs_kept(local: Any, log: Any) -> tuple[tablelog.Table, tablelog.Table]:
    tables = []
    for keep in (False, True):
        with local.init(keep_logged_rows=keep) as run:
            tables.append(log(run))
    return tables[0], tables[1]


def test_type_changes_keep_releasing_and_read_back_right(local: Any) -> None:
    def log(run: Any) -> tablelog.Table:
        t = tablelog.Table(columns=["n", "late", "m"], log_mode="INCREMENTAL",
                           allow_mixed_types=True)  # fmt: skip
        for step in range(12):
            n = step if step < 5 else step + 0.5  # int column widens to float
            late = None if step < 4 else step  # null at first, then int
            if step == 7:  # a logged text column cannot turn to JSON text (#22, 9a)
                with pytest.raises(tablelog.ColumnTypeError, match="'m' was logged with str"):
                    t.add_data(n, late, {"k": step})
            t.add_data(n, late, str(step))
            run.log({"t": t}, step=step)
            run.flush()
        return t

    released, kept = _released_vs_kept(local, log)
    assert released._spilled.rows == 12 and released._arrow is not None
    assert released._arrow.num_rows == 0  # released to the end despite the changes
    assert released.to_arrow().equals(kept.to_arrow())
    assert released.data == kept.data
    assert released.get_column("m")[:2] == ["0", "1"] and released.get_column("m")[7] == "7"


def test_rows_logged_under_two_keys_around_a_json_change(local: Any) -> None:
    def log(run: Any) -> tablelog.Table:
        t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL", allow_mixed_types=True)
        for i in range(3):
            t.add_data(str(i))
        run.log({"b": t}, step=0)  # rows 0-2 as text, committed (and released) later
        with pytest.raises(tablelog.ColumnTypeError, match="'a' was logged with str"):
            t.add_data({"k": 1})  # the stored text column cannot turn to JSON text
        t.add_data("3")
        run.log({"a": t}, step=1)
        run.flush()
        t.add_data("7")
        run.log({"a": t, "b": t}, step=2)
        run.flush()
        return t

    released, kept = _released_vs_kept(local, log)
    assert released._spilled.rows == 5
    assert released.data == kept.data == [["0"], ["1"], ["2"], ["3"], ["7"]]


def test_a_table_logged_again_in_a_second_run_keeps_releasing(local: Any) -> None:
    t = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    with local.init(id="first") as run:
        for step in range(5):
            t.add_data(step)
            run.log({"k": t}, step=step)
    with local.init(id="second") as run:
        for step in range(5, 8):
            t.add_data(step)
            run.log({"k": t}, step=step)  # first log here: the whole table, one object
            run.flush()
    assert t._spilled.rows == 8 and t.get_column("i") == list(range(8))
    assert local.scan("p/second/k").collect()["i"].to_list() == list(range(8))


def test_the_notebook_view_reads_back_only_the_rows_it_shows(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    table = _one_row_per_log(root, 60)
    _damage_increment(root, 59)  # row 59's object, never shown
    html = table._repr_html_()
    assert "<td>49</td>" in html and "<td>50</td>" not in html and "60 row(s)" in html
    with pytest.raises(FormatError, match="corrupt"):
        table.to_arrow()


def test_cast_after_release_keeps_each_row_once(local: Any) -> None:
    """``Table.cast`` to an Arrow type on a Table whose committed rows were released:
    the Table and the next log hold each row once (the cast used to make the Table the
    read-back rows plus its own, so the released rows were in it twice, and the next
    log committed them again)."""
    table = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
    with local.init(id="cast") as run:
        for step in range(4):
            table.add_data(step)
            run.log({"t": table}, step=step)
        run.flush()
        run.log({"x": 1}, step=4)  # (hands the committed rows back: they are released)
        assert table._spilled.rows == 4
        table.add_data(4)
        table.cast("a", pa.float64())
        assert table.get_column("a") == [0.0, 1.0, 2.0, 3.0, 4.0]
        run.log({"t": table}, step=5)
    assert local.scan("p/cast/t").collect()["a"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0]
