"""Table rules from SPEC.md: modes, row lengths, column types, columnar construction."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import tablelog
from tablelog import ColumnTypeError, TableError


def test_log_mode_must_be_one_of_three() -> None:
    with pytest.raises(ValueError, match="'IMMUTABLE', 'MUTABLE' or 'INCREMENTAL'"):
        tablelog.Table(columns=["a"], log_mode="APPEND")
    assert tablelog.Table(columns=["a"]).log_mode == "IMMUTABLE"
    assert tablelog.Table(columns=["a"], log_mode="incremental").log_mode == "INCREMENTAL"


def test_add_data_wrong_length_names_columns() -> None:
    t = tablelog.Table(columns=["a", "b"])
    with pytest.raises(TableError, match=r"1 value\(s\).*\['a', 'b'\]"):
        t.add_data(1)
    assert t.num_rows == 0


VALUES = {
    "number": 1,
    "str": "x",
    "bool": True,
    "list": [1, 2],
    "dict": {"k": 1},
    "datetime": dt.datetime(2026, 1, 1),
    "bytes": b"\x00",
}


@pytest.mark.parametrize("first", list(VALUES))
@pytest.mark.parametrize("second", list(VALUES))
def test_type_change_is_a_type_error(first: str, second: str) -> None:
    t = tablelog.Table(columns=["c"])
    t.add_data(VALUES[first])
    if first == second:
        t.add_data(VALUES[second])
        return
    with pytest.raises(TypeError, match=rf"column 'c' holds {first} values.*is {second}"):
        t.add_data(VALUES[second])
    assert t.num_rows == 1


def test_int_and_float_are_numbers_and_nan_is_null() -> None:
    t = tablelog.Table(columns=["x"])
    for v in (1, 2.5, float("nan"), None, np.float32(3), np.int64(4)):
        t.add_data(v)
    assert t.get_column("x") == [1.0, 2.5, None, None, 3.0, 4.0]


def test_non_optional_column_refuses_none() -> None:
    t = tablelog.Table(columns=["a", "b"], optional=[True, False])
    t.add_data(None, 1)
    with pytest.raises(TableError, match="'b' is not optional"):
        t.add_data(1, None)


def test_allow_mixed_types_stores_json() -> None:
    t = tablelog.Table(columns=["m"], allow_mixed_types=True)
    t.add_data(1)
    t.add_data("x")
    t.add_data([1, {"a": 2}])
    assert t.get_column("m") == [1, "x", [1, {"a": 2}]]


def test_unsupported_value_is_a_clear_error() -> None:
    t = tablelog.Table(columns=["f"])
    with pytest.raises(ColumnTypeError, match="function"):
        t.add_data(lambda: 1)


def test_nested_values_round_trip_and_vary() -> None:
    t = tablelog.Table(columns=["d", "l"])
    t.add_data({"a": 1, "b": {"c": [1, 2]}}, [1, 2])
    t.add_data({"x": "only"}, [[1], "mixed"])
    assert t.data == [
        [{"a": 1, "b": {"c": [1, 2]}}, [1, 2]],
        [{"x": "only"}, [[1], "mixed"]],
    ]


def test_add_column_rules() -> None:
    t = tablelog.Table(columns=["a"], data=[[1], [2]], log_mode="MUTABLE")
    with pytest.raises(TableError, match="already exists"):
        t.add_column("a", [1, 2])
    with pytest.raises(TableError, match=r"3 value.*2 rows"):
        t.add_column("b", [1, 2, 3])
    with pytest.raises(TableError, match="not optional"):
        t.add_column("n", [1, None])
    t.add_column("n", [1, None], optional=True)
    t.add_column("b", np.array([0.5, 1.5]))
    assert t.columns == ["a", "n", "b"]
    assert t.get_column("b", convert_to="numpy").tolist() == [0.5, 1.5]


def test_incremental_refuses_add_column() -> None:
    t = tablelog.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with pytest.raises(TableError, match="INCREMENTAL tables take new rows only"):
        t.add_column("b", [1])


def test_dataframe_constructor_is_columnar() -> None:
    n = 1_000_000
    pdf = pd.DataFrame({"i": np.arange(n), "f": np.random.default_rng(0).random(n)})
    t = tablelog.Table(dataframe=pdf)
    assert t.columns == ["i", "f"] and t.num_rows == n
    t2 = tablelog.Table(dataframe=pl.from_pandas(pdf), columns=["ignored"])
    assert t2.columns == ["i", "f"]
    assert t2.to_polars().equals(pl.from_pandas(pdf))
    assert t.get_dataframe().equals(pdf)


def test_numpy_2d_data() -> None:
    t = tablelog.Table(columns=["a", "b"], data=np.arange(6).reshape(3, 2))
    assert t.data == [[0, 1], [2, 3], [4, 5]]


def test_datetimes_with_time_zones() -> None:
    tz = dt.timezone(dt.timedelta(hours=9))
    t = tablelog.Table(columns=["t"])
    t.add_data(dt.datetime(2026, 1, 1, 12, tzinfo=tz))
    assert t.to_arrow().schema.field("t").type.tz is not None
    (value,) = t.get_column("t")
    assert value == dt.datetime(2026, 1, 1, 12, tzinfo=tz)
    assert not math.isnan(0.0)


def test_a_decimal_with_more_places_than_its_column_is_refused_at_add_data() -> None:
    # The decimal scale is fixed by the first converted rows; a later value needing more
    # places is refused when it is added (it used to fail at every later conversion).
    t = tablelog.Table(columns=["d"], log_mode="INCREMENTAL")
    t.add_data(decimal.Decimal("1.5"))
    t.to_arrow()
    with pytest.raises(tablelog.ColumnTypeError, match=r"column 'd'.*1 decimal place"):
        t.add_data(decimal.Decimal("1.25"))
    t.add_data(decimal.Decimal("2.5"))
    assert t.get_column("d") == [decimal.Decimal("1.5"), decimal.Decimal("2.5")]


def test_a_mixed_column_turning_to_json_after_earlier_rows_were_converted() -> None:
    # (Used to recurse without end: the JSON conversion re-entered the row conversion.)
    t = tablelog.Table(columns=["a"], log_mode="INCREMENTAL", allow_mixed_types=True)
    t.add_data(1)
    t.to_arrow()
    t.add_data("x")
    assert t.data == [[1], ["x"]]
    assert t.to_arrow().schema.field("a").type == pa.string()
