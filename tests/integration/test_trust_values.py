"""#22 (values) and #17 (Table values): each case found by the adversarial pass, as
a user meets it. Every value is refused when handed over or reads back equal; a log
that cannot be committed never takes later logs down (docs/values.md)."""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import tablelog
from tablelog import ColumnTypeError, TableError


def _rows(where: Any, path: str, **kw: Any) -> list[dict[str, Any]]:
    frame = where.scan(path, **kw).collect()
    if "_increment" in frame.columns:
        frame = frame.drop("_increment")
    rows: list[dict[str, Any]] = frame.to_dicts()
    return rows


# -------------------------------------------------- case 4: dates, then datetimes


def test_a_date_column_that_gets_a_datetime_keeps_the_time_of_day(local: Any) -> None:
    noon = dt.datetime(2020, 1, 2, 13, 45)
    t = tablelog.Table(columns=["d"], data=[[dt.date(2020, 1, 1)], [noon]])
    assert t.data == [[dt.datetime(2020, 1, 1)], [noon]]  # the date reads as midnight
    with local.init(id="r") as run:
        run.log({"t": t})
    assert _rows(local, "p/r/t") == [{"d": dt.datetime(2020, 1, 1)}, {"d": noon}]


def test_a_datetime_after_dates_were_logged_is_refused_at_add_data(local: Any) -> None:
    run = local.init(id="r")
    t = tablelog.Table(columns=["d"], log_mode="INCREMENTAL")
    t.add_data(dt.date(2020, 1, 1))
    run.log({"t": t})
    with pytest.raises(ColumnTypeError, match="'d' was logged as dates"):
        t.add_data(dt.datetime(2020, 1, 2, 13, 45))
    t.add_data(dt.date(2020, 1, 3))  # the Table still works
    run.log({"t": t})
    # Another Table under the same key: refused by run.log itself, nothing logged.
    noon = dt.datetime(2020, 1, 4, 9)
    other = tablelog.Table(columns=["d"], data=[[noon]], log_mode="INCREMENTAL")
    with pytest.raises(ColumnTypeError, match="column 'd'"):
        run.log({"t": other})
    run.finish()
    assert _rows(local, "p/r/t") == [{"d": dt.date(2020, 1, 1)}, {"d": dt.date(2020, 1, 3)}]


# ------------------------------------------ case 5, 9a and the background rule


def test_a_scalar_changing_type_is_refused_in_log_and_later_logs_land(local: Any) -> None:
    run = local.init(id="r")  # background commits
    run.log({"done": True, "loss": 1.0}, step=0)
    with pytest.raises(tablelog.RunError, match=r"'done'.*stored it as bool"):
        run.log({"done": 3, "loss": 0.5}, step=1)
    run.log({"loss": 0.25, "acc": 1}, step=2)
    run.log({"loss": 1}, step=3)  # ints and floats mix
    run.finish()  # nothing failed in the background
    rows = _rows(local, "p/r/_history")
    assert [r["_step"] for r in rows] == [0, 2, 3]
    assert [r["done"] for r in rows] == [True, None, None]
    assert [r["loss"] for r in rows] == [1.0, 0.25, 1.0]


def test_a_mix_appearing_after_the_first_log_is_refused_at_add_data(local: Any) -> None:
    run = local.init(id="r")
    t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL", allow_mixed_types=True)
    t.add_data(1)
    run.log({"t": t}, step=0)
    with pytest.raises(ColumnTypeError, match="'a' was logged with number values"):
        t.add_data("x")
    t.add_data(2.5)
    run.log({"t": t, "loss": 1.0}, step=1)
    run.log({"u": tablelog.Table(columns=["m"], data=[[1], ["x"]], allow_mixed_types=True)})
    run.finish()
    assert _rows(local, "p/r/t") == [{"a": 1.0}, {"a": 2.5}]
    assert _rows(local, "p/r/u") == [{"m": "1"}, {"m": '"x"'}]  # JSON text from the start


def test_a_failed_background_commit_never_takes_later_logs_down(
    local: Any, caplog: pytest.LogCaptureFixture
) -> None:
    a = local.init(id="bg", resume="allow")
    b = local.init(id="bg", resume="allow", sync=True)
    ta = tablelog.Table(columns=["x"], data=[[1]], log_mode="MUTABLE")
    a.log({"eval": ta}, step=0)
    a.flush()
    b.log({"eval": tablelog.Table(columns=["x"], data=[[2]], log_mode="MUTABLE")}, step=1)
    ta.add_column("y", [1])
    inc = tablelog.Table(columns=["i"], log_mode="INCREMENTAL")
    with caplog.at_level(logging.ERROR, logger="tablelog"):
        a.log({"eval": ta}, step=2)  # fails on the commit thread (the base moved)
        for step in range(3, 6):
            inc.add_data(step)
            a.log({"inc": inc, "loss": float(step)}, step=step)  # later logs, other keys
        with pytest.raises(tablelog.RunError, match=r"1 log\(s\) not committed.*'eval'"):
            a.flush()
    assert any("'eval' at step 2" in r.getMessage() for r in caplog.records)  # told at once
    a.log({"loss": 9.0}, step=6)  # flush reported it; logging goes on
    with pytest.raises(tablelog.RunError, match="1 log"):
        a.finish()
    assert [r["i"] for r in _rows(local, "p/bg/inc")] == [3, 4, 5]
    assert [r["loss"] for r in _rows(local, "p/bg/_history")] == [3.0, 4.0, 5.0, 9.0]


# --------------------------------------------------- case 9: dictionary columns


def test_dictionary_encoded_columns_read_back_as_their_values(local: Any) -> None:
    frames = {
        "pandas": tablelog.Table(dataframe=pd.DataFrame({"c": pd.Categorical(["a", None, "a"])})),
        "polars": tablelog.Table(
            dataframe=pl.DataFrame({"c": pl.Series(["a", "b", "a"]).cast(pl.Categorical)})
        ),
        "enum": tablelog.Table(
            dataframe=pl.DataFrame({"c": ["a", "b", "a"]}, schema={"c": pl.Enum(["a", "b"])})
        ),
        "arrow": tablelog.Table(
            dataframe=pa.table({"c": pa.array(["a", "b", "a"]).dictionary_encode()})
        ),
        "nested": tablelog.Table(
            dataframe=pl.DataFrame({"c": [["a"], ["b"], []]}, schema={"c": pl.List(pl.Categorical)})
        ),
    }
    mutable = tablelog.Table(columns=["i"], data=[[1], [2], [3]], log_mode="MUTABLE")
    with local.init(id="r") as run:
        run.log(frames)
        run.log({"m": mutable})
        mutable.add_column("c", pd.Series(["x", "y", "x"], dtype="category"))
        run.log({"m": mutable})
    assert [r["c"] for r in _rows(local, "p/r/pandas")] == ["a", None, "a"]
    for key in ("polars", "enum", "arrow"):
        assert [r["c"] for r in _rows(local, f"p/r/{key}")] == ["a", "b", "a"]
    assert [r["c"] for r in _rows(local, "p/r/nested")] == [["a"], ["b"], []]
    assert [r["c"] for r in _rows(local, "p/r/m")] == ["x", "y", "x"]


# ------------------------------------------------ case 10: names that collide


@pytest.mark.parametrize(
    "make",
    [
        lambda: tablelog.Table(
            dataframe=pa.table([pa.array([1]), pa.array([2])], names=["a", "a"])
        ),
        lambda: tablelog.Table(dataframe=pd.DataFrame([[1, 2]], columns=["a", "a"])),
        lambda: tablelog.Table(columns=["_increment"], data=[[1]]),
        lambda: tablelog.Table(columns=["__tablelog_source"], log_mode="INCREMENTAL"),
        lambda: tablelog.Table(dataframe=pl.DataFrame({"_increment": [1]})),
        lambda: tablelog.Table(columns=["a"], data=[[1]], log_mode="MUTABLE").add_column(
            "_increment", [1]
        ),
    ],
    ids=["arrow-dupes", "pandas-dupes", "columns", "incremental", "polars", "add_column"],
)
def test_repeated_and_reserved_names_are_refused_when_handed_over(make: Any) -> None:
    with pytest.raises(TableError, match=r"unique|reserved"):
        make()


# ---------------------------------------------------- case 11: Polars objects


def test_polars_object_columns_are_stored_as_values_or_refused(local: Any) -> None:
    ok = pl.DataFrame({"o": pl.Series([{"k": 1}, {"k": 2}], dtype=pl.Object), "i": [1, 2]})
    with local.init(id="r") as run:
        run.log({"ok": tablelog.Table(dataframe=ok)})
    assert _rows(local, "p/r/ok") == [{"o": {"k": 1}, "i": 1}, {"o": {"k": 2}, "i": 2}]
    bad = pl.DataFrame({"o": pl.Series([object(), object()], dtype=pl.Object)})
    with pytest.raises(ColumnTypeError, match=r"column 'o'.*object"):
        tablelog.Table(dataframe=bad)


# --------------------------------------------- case 12: large ints, then floats


def test_ints_beyond_2_53_then_a_float_are_refused_at_add_data(local: Any) -> None:
    big = 2**53 + 1
    run = local.init(id="r")
    t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
    t.add_data(big)
    run.log({"t": t})
    with pytest.raises(ColumnTypeError, match=r"'a' cannot hold integers beyond"):
        t.add_data(0.5)
    t.add_data(7)  # the Table stays usable
    run.log({"t": t})
    run.finish()
    assert [r["a"] for r in _rows(local, "p/r/t")] == [big, 7]
    with pytest.raises(ColumnTypeError, match="'a'"):
        tablelog.Table(columns=["a"], data=[[0.5], [big]])
    with pytest.raises(ColumnTypeError, match=r"'a'.*64 bits"):
        tablelog.Table(columns=["a"], data=[[2**64]])
    with pytest.raises(ColumnTypeError, match=r"'a'.*negative"):
        tablelog.Table(columns=["a"], data=[[-1], [2**63]])


# --------------------------------------------------- #17: Table values as W&B


def test_none_in_a_non_optional_column_and_a_wrong_type_are_type_errors() -> None:
    t = tablelog.Table(columns=["a", "b"], optional=[True, False])
    with pytest.raises(TypeError, match="'b' is not optional"):
        t.add_data(1, None)
    with pytest.raises(TypeError, match="'b' is not optional"):
        t.add_data(1, pd.NA)
    t.add_data(1, 2)
    with pytest.raises(TypeError, match="'a' holds number values"):
        t.add_data("x", 3)
    with pytest.raises(TypeError, match="not optional"):
        tablelog.Table(columns=["a"], data=[[1]], log_mode="MUTABLE").add_column("n", [None])


def test_values_w_and_b_accepts_are_stored_or_refused_when_added(local: Any) -> None:
    t = tablelog.Table(columns=["i", "u"])
    t.add_data(np.int16(-3), np.int64(5))
    t.add_data(np.uint16(7), np.uint64(2**64 - 1))
    with local.init(id="r") as run:
        run.log({"t": t})
    assert _rows(local, "p/r/t") == [{"i": -3, "u": 5}, {"i": 7, "u": 2**64 - 1}]
    # W&B counts complex and longdouble values as numbers: stored as the float64 equal
    # to them; refused (naming the column) when no float64 is.
    exact = tablelog.Table(columns=["c"], data=[[np.longdouble(1.5)], [np.csingle(2)], [3 + 0j]])
    assert exact.data == [[1.5], [2.0], [3.0]]
    inexact = (np.longdouble(1) / 3, 1 + 2j, np.array([1.0], dtype=np.longdouble))
    for value in inexact:
        with pytest.raises(ColumnTypeError, match="column 'c'"):
            tablelog.Table(columns=["c"], data=[[value]])
        with pytest.raises(ColumnTypeError, match="column 'c'"):
            tablelog.Table(columns=["c"], allow_mixed_types=True).add_data(value)


def test_table_construction_as_w_and_b() -> None:
    df = pd.DataFrame({"users": ["geoff", "ada"], "n": [1, 117]})
    t = tablelog.Table(data=df)
    assert t.columns == ["users", "n"] and t.data == [["geoff", 1], ["ada", 117]]
    assert tablelog.Table(data=pl.from_pandas(df)).data == t.data
    assert tablelog.Table().columns == ["Input", "Output", "Expected"]
    cube = np.arange(12).reshape(3, 2, 2)
    one = tablelog.Table(columns=["img"], data=cube)
    assert len(one) == 3 and one.get_column("img", convert_to="numpy").shape == (3, 2, 2)
    two = tablelog.Table(columns=["a", "b"], data=cube)
    assert two.data[0] == [[0, 1], [2, 3]]
    typed = tablelog.Table(columns=["a", "b"], dtype=[int, str])
    with pytest.raises(TypeError, match="'b' holds str"):
        typed.add_data(1, 2)
    with pytest.raises(TableError, match="dtype"):
        tablelog.Table(columns=["a"], dtype=[set])
    empty = tablelog.Table(columns=[], log_mode="MUTABLE")
    empty.add_column("a", [1, 2, 3])
    assert len(empty) == 3 and empty.get_column("a") == [1, 2, 3]


@pytest.mark.parametrize("fmt", ["1", "2"])
def test_an_empty_incremental_table_logs_an_empty_increment(
    local: Any, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (format 1 once refused increment=0 here: a log that added no rows has no fragment)
    monkeypatch.setenv("TABLELOG_WRITE_FORMAT", fmt)
    t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
    with local.init(id="r") as run:
        run.log({"t": t}, step=0)
        t.add_data(1)
        run.log({"t": t}, step=1)
    # (two increments, whether or not the commit thread put them in one version)
    incs = tablelog.history("p/r/t", per="increment", **local.kw())
    assert incs["rows"].to_list() == [0, 1] and incs["step"].to_list() == [0, 1]
    assert _rows(local, "p/r/t", increment=0) == []
    assert _rows(local, "p/r/t", step=0) == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tablelog.Table(columns="abc"), "list of column names"),
        (lambda: tablelog.Table(columns=5), "list of column names"),
        (lambda: tablelog.Table(columns=["a"], data=5), "list of rows"),
        (lambda: tablelog.Table(columns=["a"], data=[1, 2]), "each row"),
        (lambda: tablelog.Table(columns=["a"], optional="yes"), "optional"),
        (
            lambda: tablelog.Table(columns=["a"], data=[[1]], log_mode="MUTABLE").add_column(
                "b", 5
            ),
            "'b'",
        ),
        (lambda: tablelog.Table(columns=["a"], data=[[{1, 2}]]), "'a'.*set"),
        (
            lambda: tablelog.Table(
                dataframe=pa.table({"m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))})
            ),
            "'m'",
        ),
        (lambda: tablelog.Table(columns=["d"], data=[[decimal.Decimal("NaN")]]), "'d'"),
        (
            lambda: tablelog.Table(
                columns=["t"],
                data=[[dt.datetime(2020, 1, 1, tzinfo=dt.UTC)], [dt.datetime(2020, 1, 1)]],
            ),
            "'t'.*aware",
        ),
    ],
)
def test_bad_arguments_are_tablelog_errors_naming_what_is_wrong(call: Any, match: str) -> None:
    with pytest.raises(tablelog.TablelogError, match=match):
        call()


def test_a_decimal_added_to_an_integer_column_is_refused_when_added(tmp_path: Path) -> None:
    """Hypothesis counterexamples (CI, test_values_roundtrip): MUTABLE, an int logged,
    then a Decimal added to the same column was first stored as a float (0.01), then
    refused only at the next log, with an error that did not name the column."""
    run = tablelog.init(project="p", id="r", root=str(tmp_path))
    t = tablelog.Table(columns=["c0"], log_mode="MUTABLE")
    t.add_data(np.int8(0))
    run.log({"k": t})
    run.flush()
    for value in (decimal.Decimal("0.01"), decimal.Decimal("0.00")):
        with pytest.raises(tablelog.TablelogError, match="column 'c0' holds integers"):
            t.add_data(value)
    assert len(t) == 1  # the table is unchanged and still logs
    t.add_data(2)
    run.log({"k": t})
    run.finish()
    assert tablelog.scan("p/r/k", root=str(tmp_path)).collect()["c0"].to_list() == [0, 2]


def test_ints_and_decimals_added_before_any_log_become_a_decimal_column() -> None:
    t = tablelog.Table(columns=["c0"])
    t.add_data(1)
    t.add_data(decimal.Decimal("0.25"))
    assert t.get_column("c0") == [decimal.Decimal("1.00"), decimal.Decimal("0.25")]
