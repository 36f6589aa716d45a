"""Every value a user can hand over is either refused when it is handed over (a
tablelog error naming the column) or reads back equal from every version, under the
conversion docs/values.md writes down. Never accepted and then unreadable, never
silently altered (#22, #17).

Columns are generated from Python and numpy values (mixed across rows and across
logs, in all three log modes, logged several times) and from pandas, Polars and
Arrow frames (categoricals, enums, nullable and extension types, decimals, durations,
nested and large types, objects), and with reserved and repeated names.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tablelog
from tablelog.errors import TablelogError

_roots = itertools.count()
UTC = dt.UTC
PLUS2 = dt.timezone(dt.timedelta(hours=2))
#: Examples run (counted for the closing note).
RUNS: dict[str, int] = {}

# ----------------------------------------------------------------- Python values

_ints = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([2**53 + 1, -(2**53) - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1]),
)
_NP_INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
_np_ints = st.builds(
    lambda t, v: t(v % (np.iinfo(t).max + 1)) if np.iinfo(t).min == 0 else t(v % 100 - 50),
    st.sampled_from(_NP_INTS),
    st.integers(0, 2**62),
)
_datetimes = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1))

ATOMS: dict[str, st.SearchStrategy[Any]] = {
    "int": _ints,
    "float": st.floats(width=64),
    "bool": st.booleans(),
    "str": st.text(max_size=4),
    "bytes": st.binary(max_size=3),
    "date": st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1)),
    "datetime": _datetimes,
    "aware": st.builds(
        lambda d, tz: d.replace(tzinfo=tz), _datetimes, st.sampled_from([UTC, PLUS2])
    ),
    "time": st.times(),
    "delta": st.timedeltas(min_value=dt.timedelta(days=-999), max_value=dt.timedelta(days=999)),
    "decimal": st.decimals(places=2, min_value=-(10**6), max_value=10**6),
    "np_int": _np_ints,
    "np_float": st.builds(
        lambda t, v: t(v), st.sampled_from([np.float32, np.float64]), st.floats(-1e6, 1e6)
    ),
    "np_longdouble": st.builds(np.longdouble, st.floats(-1e6, 1e6)),
    "complex": st.builds(complex, st.floats(-9, 9), st.floats(-9, 9)),
    "list": st.lists(st.integers(-100, 100), max_size=3),
    "dict": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(-9, 9), max_size=2),
    "array": st.builds(
        lambda t, n: np.arange(n).astype(t),
        st.sampled_from([np.int64, np.float32, np.longdouble]),
        st.just(3),
    ),
    "nested": st.lists(st.one_of(st.integers(0, 9), st.text(max_size=2)), max_size=2),
    "null": st.sampled_from([None, float("nan"), pd.NA, pd.NaT, np.nan]),
}


def _cells(kinds: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(*[ATOMS[k] for k in kinds], st.none())


# --------------------------------------------------------------- what reads back


def _norm(value: Any) -> Any:
    """A handed-over value as tablelog reads it back (docs/values.md)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    if isinstance(value, np.ndarray):
        return [_norm(v) for v in value.tolist()]
    if isinstance(value, complex | np.complexfloating) and value.imag == 0:
        return float(value.real)  # (stored as the float64 equal to it)
    if isinstance(value, np.longdouble):
        return float(value)  # (.item() keeps a longdouble; the column holds the float64)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    return value


def _as_json(value: Any) -> Any:
    """A value of a JSON-text column (mixed types, nested shapes that vary), as
    ``json.loads`` of the stored text returns it (docs/values.md)."""
    value = _norm(value)
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if isinstance(value, dt.date | dt.time | dt.timedelta | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _same(got: Any, want: Any, json_text: bool = False) -> bool:
    want = _norm(want)
    if want is None or got is None:
        return got is None and want is None
    if json_text or (isinstance(got, str) and isinstance(want, list | dict)):
        if not isinstance(got, str):
            return False
        back = json.loads(got)
        return type(back) is type(_as_json(want)) and bool(back == _as_json(want))
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if type(want) is dt.date and isinstance(got, dt.datetime):
        want = dt.datetime.combine(want, dt.time())  # a date among datetimes: midnight
    if isinstance(want, float) and isinstance(got, float) and math.isnan(want):
        return math.isnan(got)
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(a, b) for a, b in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_same(got[k], v) for k, v in want.items())
        )
    return bool(type(got) is not str or type(want) is str) and bool(got == want)


def _refused(e: BaseException, column: str) -> None:
    """A refusal must be a tablelog error that names the column."""
    assert isinstance(e, TablelogError), f"raw {type(e).__name__}: {e}"
    assert repr(column) in str(e), f"error does not name column {column!r}: {e}"


def _check_versions(
    root: str,
    key: str,
    versions: list[list[dict[str, Any]]],
    json_columns: list[set[str]] | None = None,
) -> None:
    """``versions[v]``: the table as log ``v`` left it. MUTABLE and IMMUTABLE logs are
    a version each; INCREMENTAL logs are increments, which a commit may group (format
    2), so each is read as of its step and on its own (``increment=``)."""
    if not versions:
        return
    path = f"p/r/{key}"
    incs = tablelog.history(path, root=root, per="increment")
    assert incs.height == len(versions)
    incremental = tablelog.history(path, root=root)["mode"][-1] == "INCREMENTAL"
    if not incremental:
        assert incs["version"].to_list() == list(range(len(versions)))
    for v, rows in enumerate(versions):
        at = {"step": incs["step"][v]} if incremental else {"version": v}
        reads = [(tablelog.scan(path, root=root, **at).collect(), rows)]
        if incremental:
            own = rows[len(versions[v - 1]) :] if v else rows
            reads.append((tablelog.scan(path, root=root, increment=v).collect(), own))
        for got, want in reads:
            if "_increment" in got.columns:
                got = got.drop("_increment")
            assert got.height == len(want), f"log {v}: {got.height} rows, logged {len(want)}"
            for name in got.columns:
                column = got[name].to_list()
                as_json = json_columns is not None and name in json_columns[v]
                for i, row in enumerate(want):
                    assert _same(column[i], row[name], as_json), (
                        f"log {v}, column {name!r}, row {i}: logged {row[name]!r}, "
                        f"read {column[i]!r} ({got.schema[name]})"
                    )


# ------------------------------------------------- Python values, rows and logs

_COLUMNS = st.lists(
    st.lists(st.sampled_from(sorted(ATOMS)), min_size=1, max_size=2, unique=True),
    min_size=1,
    max_size=2,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    mode=st.sampled_from(["IMMUTABLE", "MUTABLE", "INCREMENTAL"]),
    handover=st.sampled_from(["add_data", "data", "add_column"]),
    mixed=st.booleans(),
    columns=_COLUMNS,
    data=st.data(),
)
def test_python_values_read_back_equal_or_are_refused(
    mode: str, handover: str, mixed: bool, columns: list[list[str]], data: st.DataObject
) -> None:
    RUNS["python"] = RUNS.get("python", 0) + 1
    names = [f"c{i}" for i in range(len(columns))]
    batches = data.draw(
        st.lists(
            st.lists(st.tuples(*[_cells(kinds) for kinds in columns]), max_size=4),
            min_size=1,
            max_size=3,
        ),
        label="batches",
    )
    root = f"memory://values-{next(_roots)}"
    run = tablelog.init(project="p", id="r", root=root)
    versions: list[list[dict[str, Any]]] = []
    json_columns: list[set[str]] = []  # per version: its columns stored as JSON text
    logged: list[dict[str, Any]] = []  # INCREMENTAL: every row logged so far
    table: tablelog.Table | None = None
    rows: list[dict[str, Any]] = []  # the current Table's rows
    table_logged = False

    def new_table(batch: list[tuple[Any, ...]]) -> tuple[tablelog.Table, list[tuple[Any, ...]]]:
        """A Table holding what it accepted of ``batch`` (by the chosen hand-over)."""
        if handover == "data":
            try:
                return tablelog.Table(
                    columns=names, data=[list(r) for r in batch], log_mode=mode,
                    allow_mixed_types=mixed,
                ), batch  # fmt: skip
            except TablelogError as e:
                _refused(e, next(n for n in names if repr(n) in str(e)))
                return tablelog.Table(columns=names, log_mode=mode, allow_mixed_types=mixed), []
        if handover == "add_column" and mode != "INCREMENTAL" and batch:
            t = tablelog.Table(columns=[], log_mode=mode)
            kept = [list(r) for r in batch]
            for j, name in enumerate(names):
                try:
                    t.add_column(name, [r[j] for r in batch], optional=True)
                except TablelogError as e:
                    _refused(e, name)
                    return tablelog.Table(columns=names, log_mode=mode), []
            return t, [tuple(r) for r in kept]
        t = tablelog.Table(columns=names, log_mode=mode, allow_mixed_types=mixed)
        return t, add_rows(t, batch)

    def add_rows(t: tablelog.Table, batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        kept = []
        for row in batch:
            try:
                t.add_data(*row)
            except TablelogError as e:
                assert any(repr(n) in str(e) for n in names), f"no column named: {e}"
                continue
            except Exception as e:  # raw errors are a failure
                raise AssertionError(f"add_data{row!r} raised raw {type(e).__name__}: {e}") from e
            kept.append(row)
        return kept

    try:
        for batch in batches:
            if table is None or (mode == "IMMUTABLE"):
                table, kept = new_table(batch)
                rows = [dict(zip(names, r, strict=True)) for r in kept]
                table_logged = False
            else:
                kept = add_rows(table, batch)
                rows.extend(dict(zip(names, r, strict=True)) for r in kept)
            before = len(rows)
            try:
                run.log({"k": table})
            except TablelogError as e:
                _refused(e, next((n for n in names if repr(n) in str(e)), names[0]))
                break  # (refused: nothing of this log is stored; the example ends)
            except Exception as e:
                raise AssertionError(f"run.log raised raw {type(e).__name__}: {e}") from e
            assert len(table) == before
            if mode == "INCREMENTAL":
                new = rows[len(rows) - len(kept) :] if table_logged else rows
                if new or not table_logged:
                    logged.extend(new)
                    versions.append(list(logged))
            elif mode == "MUTABLE":
                if kept or not table_logged:
                    versions.append(list(rows))
            else:
                versions.append(list(rows))
            if len(json_columns) < len(versions):
                json_columns.append(
                    {n for n, k in zip(table.columns, table._kinds, strict=True) if k == "json"}
                )
            table_logged = True
        run.finish()  # raises if a log failed in the background
    finally:
        if not run._finished:
            run.finish()
    _check_versions(root, "k", versions, json_columns)


# ------------------------------------------------------------- frames of every kind


def _pandas(kind: str, n: int, draw: Callable[[Any], Any]) -> Any:
    strs = [draw(st.text(max_size=3)) for _ in range(n)]
    ints = [draw(st.integers(-(2**62), 2**62)) for _ in range(n)]
    nulls = [draw(st.booleans()) for _ in range(n)]
    if kind == "categorical":
        values = pd.Categorical([None if m else s for s, m in zip(strs, nulls, strict=True)])
        return values, [None if m else s for s, m in zip(strs, nulls, strict=True)]
    if kind == "nullable_int":
        vals = [None if m else i for i, m in zip(ints, nulls, strict=True)]
        return pd.array(vals, dtype="Int64"), vals
    if kind == "tz_datetime":
        ts = [dt.datetime(2020, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i % 10**9) for i in ints]
        return pd.Series(pd.to_datetime(ts, utc=True)).dt.tz_convert("Europe/Paris"), ts
    if kind == "decimal":
        ds = [decimal.Decimal(i % 10**6) / 100 for i in ints]
        return pd.Series(ds, dtype=object), ds
    if kind == "string":
        vals = [None if m else s for s, m in zip(strs, nulls, strict=True)]
        return pd.array(vals, dtype="string"), vals
    if kind == "bool_na":
        vals = [None if m else i % 2 == 0 for i, m in zip(ints, nulls, strict=True)]
        return pd.array(vals, dtype="boolean"), vals
    raise AssertionError(kind)


def _polars(kind: str, n: int, draw: Callable[[Any], Any]) -> Any:
    strs = [draw(st.sampled_from(["x", "y", "z"])) for _ in range(n)]
    ints = [draw(st.integers(-(10**6), 10**6)) for _ in range(n)]
    if kind == "categorical":
        return pl.Series(strs, dtype=pl.Categorical), strs
    if kind == "enum":
        return pl.Series(strs, dtype=pl.Enum(["x", "y", "z"])), strs
    if kind == "object_ok":
        vals = [{"k": i} for i in ints]
        return pl.Series(vals, dtype=pl.Object), vals
    if kind == "object_bad":
        vals = [object() for _ in ints]
        return pl.Series(vals, dtype=pl.Object), None
    if kind == "decimal":
        ds = [decimal.Decimal(i) / 100 for i in ints]
        return pl.Series(ds, dtype=pl.Decimal(20, 2)), ds
    if kind == "duration":
        ds = [dt.timedelta(microseconds=i) for i in ints]
        return pl.Series(ds, dtype=pl.Duration("us")), ds
    if kind == "nested":
        vals = [{"a": [i, i + 1], "b": s} for i, s in zip(ints, strs, strict=True)]
        return pl.Series(vals), vals
    if kind == "list_cat":
        vals = [[s] for s in strs]
        return pl.Series(vals, dtype=pl.List(pl.Categorical)), vals
    raise AssertionError(kind)


def _arrow(kind: str, n: int, draw: Callable[[Any], Any]) -> Any:
    strs = [draw(st.sampled_from(["x", "y", ""])) for _ in range(n)]
    ints = [draw(st.integers(-(10**6), 10**6)) for _ in range(n)]
    if kind == "dictionary":
        return pa.array(strs).dictionary_encode(), strs
    if kind == "large_string":
        return pa.array(strs, pa.large_string()), strs
    if kind == "large_list":
        vals = [[i] for i in ints]
        return pa.array(vals, pa.large_list(pa.int64())), vals
    if kind == "large_binary":
        vals = [s.encode() for s in strs]
        return pa.array(vals, pa.large_binary()), vals
    if kind == "float16":
        vals = [float(np.float16(i % 1000)) for i in ints]
        return pa.array(np.array(vals, dtype=np.float16)), vals
    if kind == "date64":
        vals = [dt.date(2000, 1, 1) + dt.timedelta(days=i % 9999) for i in ints]
        return pa.array(vals, pa.date64()), vals
    if kind == "map":
        return pa.array([[("a", i)] for i in ints], pa.map_(pa.string(), pa.int64())), None
    raise AssertionError(kind)


FRAMES: dict[str, tuple[Callable[..., Any], list[str]]] = {
    "pandas": (
        _pandas,
        ["categorical", "nullable_int", "tz_datetime", "decimal", "string", "bool_na"],
    ),
    "polars": (
        _polars,
        [
            "categorical",
            "enum",
            "object_ok",
            "object_bad",
            "decimal",
            "duration",
            "nested",
            "list_cat",
        ],
    ),
    "arrow": (
        _arrow,
        ["dictionary", "large_string", "large_list", "large_binary", "float16", "date64", "map"],
    ),
}


def _frame(lib: str, columns: dict[str, Any]) -> Any:
    if lib == "pandas":
        return pd.DataFrame(columns)
    if lib == "polars":
        return pl.DataFrame(columns)
    return pa.table(list(columns.values()), names=list(columns))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lib=st.sampled_from(sorted(FRAMES)),
    mode=st.sampled_from(["IMMUTABLE", "MUTABLE", "INCREMENTAL"]),
    by=st.sampled_from(["dataframe", "data"]),
    logs=st.integers(1, 3),
    n=st.integers(0, 4),
    data=st.data(),
)
def test_frame_columns_read_back_equal_or_are_refused(
    lib: str, mode: str, by: str, logs: int, n: int, data: st.DataObject
) -> None:
    RUNS["frames"] = RUNS.get("frames", 0) + 1
    make, kinds = FRAMES[lib]
    chosen = data.draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3), label="kinds")
    root = f"memory://frames-{next(_roots)}"
    versions: list[list[dict[str, Any]]] = []
    logged: list[dict[str, Any]] = []
    with tablelog.init(project="p", id="r", root=root) as run:
        for log_no in range(logs):
            cols: dict[str, Any] = {}
            expected: dict[str, list[Any]] = {}
            refuse: str | None = None
            for j, kind in enumerate(chosen):
                values, want = make(kind, n, data.draw)
                name = f"{kind}{j}"
                cols[name] = values
                if want is None:
                    refuse = refuse or name
                else:
                    expected[name] = want
            frame = _frame(lib, cols)
            try:
                table = (
                    tablelog.Table(dataframe=frame, log_mode=mode)
                    if by == "dataframe"
                    else tablelog.Table(data=frame, log_mode=mode)
                )
            except TablelogError as e:
                assert refuse is not None, f"refused {chosen}: {e}"
                _refused(e, refuse)
                continue
            assert refuse is None or n == 0, f"accepted {refuse} of {chosen}"
            assert table.columns == list(cols)
            rows = [{c: expected[c][i] for c in expected} for i in range(n)]
            if mode == "INCREMENTAL" and versions:
                # a new Table each log: INCREMENTAL keys take the rows as an increment
                pass
            try:
                run.log({"k": table}, step=log_no)
            except TablelogError as e:
                # a later log whose column types the key's columns cannot take
                assert versions, f"first log refused: {e}"
                assert any(repr(c) in str(e) for c in cols), e
                continue
            if mode == "INCREMENTAL":
                logged.extend(rows)
                versions.append(list(logged))
            else:
                versions.append(rows)
    _check_versions(root, "k", versions)


# ----------------------------------------------------------- names that collide


@settings(max_examples=30, deadline=None)
@given(
    names=st.lists(
        st.sampled_from(["a", "b", "_increment", "__tablelog_source", "_step"]),
        min_size=1,
        max_size=3,
    ),
    lib=st.sampled_from(["columns", "arrow", "pandas", "add_column"]),
)
def test_reserved_and_repeated_names_are_refused_or_read_back(names: list[str], lib: str) -> None:
    RUNS["names"] = RUNS.get("names", 0) + 1
    bad = len(set(names)) < len(names) or {"_increment", "__tablelog_source"} & set(names)
    root = f"memory://names-{next(_roots)}"
    values = [[i] for i in range(len(names))]
    try:
        if lib == "columns":
            table = tablelog.Table(columns=names, data=[[v[0] for v in values]])
        elif lib == "arrow":
            table = tablelog.Table(dataframe=pa.table([pa.array(v) for v in values], names=names))
        elif lib == "pandas":
            table = tablelog.Table(dataframe=pd.DataFrame([[v[0] for v in values]], columns=names))
        else:
            table = tablelog.Table(columns=[], log_mode="MUTABLE")
            for name, v in zip(names, values, strict=True):
                table.add_column(name, v)
    except TablelogError as e:
        assert bad, f"refused {names}: {e}"
        return
    assert not bad, f"accepted {names}"
    with tablelog.init(project="p", id="r", root=root) as run:
        run.log({"k": table})
    _check_versions(root, "k", [[dict(zip(names, [v[0] for v in values], strict=True))]])


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Any:
    yield
    print(f"\nvalue round-trip examples run: {RUNS}")
