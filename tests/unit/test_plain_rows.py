"""The one-call conversion of plain rows (tablelog/table/plain_rows.py) gives exactly
what the general, column-by-column conversion gives, and steps aside for anything else."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tablelog
from tablelog.table.plain_rows import PlainRows
from tablelog.table.types import column_to_arrow, kind_of_arrow

_DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int8, np.uint16]


def _arrays(dtype: Any, size: int) -> st.SearchStrategy[Any]:
    return hnp.arrays(dtype, (size,), elements=hnp.from_dtype(np.dtype(dtype)))


#: Each column: its Arrow type, its plain values, and values the one-call path must
#: leave to the general one (nulls, NaN, numpy scalars, other shapes and dtypes...).
_COLUMNS: list[tuple[pa.DataType, st.SearchStrategy[Any], st.SearchStrategy[Any]]] = [
    (
        pa.int64(),
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from([True, None, np.int64(3), 2**63, -(2**63) - 1, 1.5]),
    ),
    (
        pa.float64(),
        st.floats(allow_nan=False),
        st.sampled_from([math.nan, None, np.float64(1.0), 1]),
    ),
    (
        pa.string(),
        st.text(alphabet=st.characters(exclude_categories=("Cs",))),
        st.sampled_from([np.str_("a"), None, b"x", "\ud800"]),
    ),
    (pa.bool_(), st.booleans(), st.sampled_from([np.bool_(True), None, 0])),
    *[
        (
            pa.list_(pa.from_numpy_dtype(np.dtype(d)), 3),
            _arrays(d, 3),
            st.sampled_from(
                [None, [1, 2, 3], np.zeros(4, d), np.zeros((3, 1), d), np.zeros(3, np.complex64)]
            ),
        )
        for d in _DTYPES
    ],
]


@st.composite
def _batches(draw: st.DrawFn, plain: bool) -> tuple[pa.Schema, list[tuple[Any, ...]], bool]:
    """A schema, rows for it, and whether a value the general path must take was drawn."""
    picked = draw(st.lists(st.sampled_from(range(len(_COLUMNS))), min_size=1, max_size=5))
    schema = pa.schema([pa.field(f"c{i}", _COLUMNS[c][0]) for i, c in enumerate(picked)])
    n = draw(st.integers(1, 6))
    rows, other = [], False
    for _ in range(n):
        row = []
        for c in picked:
            _, good, bad = _COLUMNS[c]
            take_bad = not plain and draw(st.integers(0, 4)) == 0
            row.append(draw(bad) if take_bad else draw(good))
            other = other or take_bad
        rows.append(tuple(row))
    return schema, rows, other


def _general(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    arrays = [
        column_to_arrow(f.name, list(columns[i]), kind_of_arrow(f.type), target=f.type)
        for i, f in enumerate(schema)
    ]
    return pa.table(arrays, names=schema.names)


def _same(a: pa.Table, b: pa.Table) -> bool:
    # (repr: NaN inside arrays equals itself, and -0.0 differs from 0.0)
    return a.schema == b.schema and repr(a.to_pylist()) == repr(b.to_pylist())


@settings(max_examples=300, deadline=None)
@given(_batches(plain=True))
def test_plain_rows_take_the_one_call_path_and_equal_the_general_one(
    batch: tuple[pa.Schema, list[tuple[Any, ...]], bool],
) -> None:
    schema, rows, _ = batch
    fast = PlainRows(schema).convert(rows)
    assert fast is not None
    assert _same(fast, _general(schema, rows))


@settings(max_examples=300, deadline=None)
@given(_batches(plain=False))
def test_other_rows_are_left_to_the_general_path(
    batch: tuple[pa.Schema, list[tuple[Any, ...]], bool],
) -> None:
    schema, rows, other = batch
    fast = PlainRows(schema).convert(rows)
    if other:
        assert fast is None
    else:
        assert fast is not None and _same(fast, _general(schema, rows))


def test_it_needs_no_pandas() -> None:
    """pandas is not a dependency: the array check maps Arrow types to numpy itself
    (pyarrow's ``to_pandas_dtype`` imports pandas)."""
    code = """
import sys

class NoPandas:  # (import pandas fails, as where it is not installed)
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, NoPandas())
import numpy as np, pyarrow as pa
from tablelog.table.plain_rows import PlainRows
names = sys.argv[1:]
types = [pa.list_(pa.from_numpy_dtype(np.dtype(d)), 2) for d in names]
plain = PlainRows(pa.schema([(f"c{i}", t) for i, t in enumerate(types)]))
row = tuple(np.zeros(2, d) for d in names)
assert plain.convert([row, row]).num_rows == 2
"""
    names = [np.dtype(d).name for d in _DTYPES]
    subprocess.run([sys.executable, "-c", code, *names], check=True)


def test_columns_without_plain_values_never_take_it() -> None:
    for t in (pa.timestamp("us"), pa.list_(pa.int64()), pa.decimal128(38, 2), pa.null()):
        assert PlainRows(pa.schema([("a", pa.int64()), ("b", t)])).checks is None


def test_a_table_logs_the_same_rows_either_way() -> None:
    """Through the public Table: the second batch of plain rows goes the one-call way,
    a batch with a NaN and a None the general way; both read back as added."""
    table = tablelog.Table(columns=["step", "loss", "emb"], log_mode="INCREMENTAL")
    emb = np.arange(3, dtype=np.float32)
    table.add_data(0, 0.5, emb)
    assert table.to_arrow().num_rows == 1
    table.add_data(1, 0.25, emb + 1)
    table.add_data(2, 0.125, emb + 2)
    assert table.to_arrow().num_rows == 3
    table.add_data(3, math.nan, None)
    out = table.to_arrow()
    assert out.column("step").to_pylist() == [0, 1, 2, 3]
    assert out.column("loss").to_pylist() == [0.5, 0.25, 0.125, None]
    assert out.column("emb").to_pylist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], None]


@settings(max_examples=300, deadline=None)
@given(_batches(plain=False))
def test_rows_deferred_convert_later_to_what_the_general_path_makes(
    batch: tuple[pa.Schema, list[tuple[Any, ...]], bool],
) -> None:
    """run.log hands plain rows over unconverted (``defer``): whatever it defers, the
    later conversion cannot fail and equals the general path; what it does not defer
    (a null, NaN, a numpy scalar, an int beyond int64, a lone surrogate...) is
    converted in run.log, where a refusal belongs."""
    schema, rows, other = batch
    deferred = PlainRows(schema).defer(list(rows))
    if other:
        assert deferred is None
        return
    assert deferred is not None
    assert deferred.num_rows == len(rows) and deferred.column_names == schema.names
    assert deferred.schema == schema
    # (what the queue's budget counts: the Python objects, more than their Arrow)
    assert deferred.nbytes >= deferred.table().nbytes
    assert _same(deferred.table(), _general(schema, rows))


def test_deferred_arrays_are_copies() -> None:
    """A caller that writes into its arrays after the log cannot change what it logged."""
    schema = pa.schema([("emb", pa.list_(pa.float32(), 3))])
    emb = np.zeros(3, np.float32)
    deferred = PlainRows(schema).defer([(emb,)])
    assert deferred is not None
    emb[:] = 7
    assert deferred.table().column("emb").to_pylist() == [[0, 0, 0]]


def test_deferred_rows_convert_once_whichever_thread_asks_first() -> None:
    schema = pa.schema([("i", pa.int64()), ("s", pa.string())])
    deferred = PlainRows(schema).defer([(i, str(i)) for i in range(1000)])
    assert deferred is not None
    with ThreadPoolExecutor(8) as pool:
        tables = list(pool.map(lambda _: deferred.table(), range(64)))
    assert all(t is tables[0] for t in tables)
    assert tables[0].column("i").to_pylist() == list(range(1000))


def test_a_copied_table_holds_its_deferred_rows_as_arrow(tmp_path: Any) -> None:
    """A Table whose logged rows were handed over unconverted copies (a lock cannot be
    copied: the copy holds them as Arrow), and the copy adds rows of its own."""
    table = tablelog.Table(columns=["i", "s"], log_mode="INCREMENTAL")
    with tablelog.init(project="p", id="r", root=str(tmp_path)) as run:
        for i in range(3):
            table.add_data(i, str(i))
            run.log({"t": table})
        copied = copy.deepcopy(table)
    copied.add_data(3, "3")
    assert copied.get_column("i") == [0, 1, 2, 3] and table.get_column("s") == ["0", "1", "2"]
