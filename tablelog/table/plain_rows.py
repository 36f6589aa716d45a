"""The training loop's common rows, converted to Arrow in one call.

``Table._convert_pending`` converts each column on its own (``column_to_arrow``), which
decides nulls, widening, shapes and JSON for any value. Most logs of a training loop
hold none of that: every value is the plain Python (or numpy) value of a column whose
type earlier logs fixed. Those rows go through one ``pa.array`` of a struct type:
about three times faster, and with four releases of the GIL (three in ``pa.array``,
one in the table's validation) instead of three per column. Every release lets the
commit thread in, and ``run.log`` waits for it to give the GIL back, so the table
is built from the struct's fields (no release) rather than ``Table.from_struct_array``
(four more). Rows this module does not recognise return None and take the general path;
where both paths apply, they give equal Arrow (tests/unit/test_plain_rows.py).

Even those four releases cost ``run.log`` its p99 on S3, where the commit thread's
botocore holds the GIL for a millisecond and more at a time. So an INCREMENTAL log
hands its new rows over unconverted (:meth:`PlainRows.defer`): a :class:`DeferredRows`
that the commit thread converts, or the Table itself if it needs them first. Only rows
whose conversion cannot fail are deferred (scalars in range, text that encodes, arrays
of the column's exact dtype and shape): a value is refused in ``run.log`` or
``add_data``, never in the commit thread. Arrays are copied (no GIL release for small
ones), so that changing one after the log cannot change what was logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from tablelog.errors import ColumnTypeError

Check = Callable[[Sequence[Any]], bool]

INT64, FLOAT64, STRING, BOOL = pa.int64(), pa.float64(), pa.string(), pa.bool_()

#: The Arrow type of each plain Python value type (:func:`plain_arrays`).
PLAIN_TYPES: dict[type, pa.DataType] = {int: INT64, float: FLOAT64, str: STRING, bool: BOOL}

#: What ``pa.array`` raises for a value that looked plain but is not storable as
#: such: an int beyond int64, a str with a lone surrogate (the general path says why).
_NOT_PLAIN = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeError)


def _ints(values: Sequence[Any]) -> bool:
    return all(type(v) is int for v in values)


def _floats(values: Sequence[Any]) -> bool:
    # (NaN is a null: the general path turns it into one)
    return all(type(v) is float and v == v for v in values)


def _strings(values: Sequence[Any]) -> bool:
    return all(type(v) is str for v in values)


def _bools(values: Sequence[Any]) -> bool:
    return all(type(v) is bool for v in values)


#: numpy dtype names of the Arrow value types a fixed-size list of plain arrays may hold
#: (by the type's name; ``DataType.to_pandas_dtype`` would import pandas).
_NUMPY_NAMES = {
    **{f"int{b}": f"int{b}" for b in (8, 16, 32, 64)},
    **{f"uint{b}": f"uint{b}" for b in (8, 16, 32, 64)},
    "halffloat": "float16",
    "float": "float32",
    "double": "float64",
}


def _arrays_check(t: pa.DataType) -> Check | None:
    """Numpy arrays that are exactly the cells of a fixed-size list: one dimension, its
    size, its value type's dtype (no cast, no byte swap)."""
    if not pa.types.is_fixed_size_list(t):
        return None
    name = _NUMPY_NAMES.get(str(t.value_type))
    if name is None:
        return None
    import numpy as np

    ndarray, dtype, shape = np.ndarray, np.dtype(name), (t.list_size,)

    def arrays(values: Sequence[Any]) -> bool:
        return all(type(v) is ndarray and v.shape == shape and v.dtype == dtype for v in values)

    return arrays


def scalar_check(t: pa.DataType) -> Check | None:
    """Whether values are all plain Python values of type ``t`` (int64, float64 without
    NaN, string, bool); None for other types."""
    if t == INT64:
        return _ints
    if t == FLOAT64:
        return _floats
    if t == STRING:
        return _strings
    if t == BOOL:
        return _bools
    return None


def _check(t: pa.DataType) -> Check | None:
    return scalar_check(t) or _arrays_check(t)


#: The range of an Arrow int64 (what a plain int column holds).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: Bytes of a Python value of the fixed-width scalar types (an int: 28-36; bools are
#: shared), and of a row's tuple beside its values: a deferred row is held as Python
#: objects until it is converted, which the commit queue's budget counts.
_WIDTH = {INT64: 32, FLOAT64: 24, BOOL: 0}
_TUPLE, _SLOT, _STR, _ARRAY = 56, 8, 49, 112


def _certain_bytes(t: pa.DataType, values: Sequence[Any]) -> int | None:
    """For values that passed ``t``'s check: the bytes Python holds them in (for the
    commit queue's budget), or None if ``pa.array`` could still refuse one (an int
    beyond int64, text with a lone surrogate). No Arrow call: no GIL release."""
    if t == STRING:
        width = 1
        if not all(map(str.isascii, values)):
            width = 4  # (at most: a str holds 1, 2 or 4 bytes a character)
            try:
                for v in values:
                    v.encode()
            except UnicodeEncodeError:
                return None
        return width * sum(map(len, values)) + _STR * len(values)
    if t == INT64 and (min(values) < INT64_MIN or max(values) > INT64_MAX):
        return None
    if pa.types.is_fixed_size_list(t):
        return sum(int(v.nbytes) for v in values) + _ARRAY * len(values)
    return _WIDTH[t] * len(values)


def _as_is(table: pa.Table) -> pa.Table:
    return table


class DeferredRows:
    """Rows of plain values that ``run.log`` handed over unconverted: converted to Arrow
    once, by the first thread that asks (:meth:`table`), thread-safely. It answers
    what the caller's thread needs without converting: rows, columns, schema, bytes."""

    __slots__ = ("_lock", "_plain", "_rows", "_table", "nbytes", "num_rows")

    @property
    def plain(self) -> PlainRows:
        """What converts them (one per schema: it holds the schema's empty table)."""
        return self._plain

    def __init__(self, rows: list[tuple[Any, ...]], plain: PlainRows, nbytes: int) -> None:
        self._rows: list[tuple[Any, ...]] | None = rows
        self._plain = plain
        self._table: pa.Table | None = None
        self._lock = threading.Lock()
        self.num_rows = len(rows)
        #: What the rows hold until they are converted (Python objects: several times
        #: their Arrow bytes), estimated without converting, for the commit queue's budget.
        self.nbytes = nbytes

    @property
    def schema(self) -> pa.Schema:
        return self._plain.fields

    @property
    def column_names(self) -> list[str]:
        names: list[str] = self._plain.fields.names
        return names

    @property
    def num_columns(self) -> int:
        return len(self._plain.fields)

    def __reduce__(self) -> tuple[Any, ...]:
        # (a copy of a Table holds its rows as Arrow: a lock cannot be copied)
        return _as_is, (self.table(),)

    def table(self) -> pa.Table:
        """The rows as Arrow (converted on the first call, on the calling thread)."""
        out = self._table
        if out is None:
            with self._lock:
                out = self._table
                if out is None:
                    assert self._rows is not None
                    out = self._plain.convert(self._rows)
                    if out is None:  # (defer() checked every value: it cannot step aside)
                        raise ColumnTypeError("deferred rows that are not plain values")
                    self._table, self._rows = out, None
        return out


class PlainRows:
    """Converts rows for one Arrow schema (a Table's, as its earlier logs fixed it)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        checks = [_check(f.type) for f in schema]
        #: One check per column, or None when a column's type has no plain values.
        self.checks: list[Check] | None = (
            None if any(c is None for c in checks) else [c for c in checks if c is not None]
        )
        self._struct = pa.struct(list(schema))
        #: The schema of what :meth:`convert` makes (the struct's fields).
        self.fields = schema.remove_metadata()
        self._empty: pa.Table | None = None
        #: Columns of numpy arrays (fixed-size lists): :meth:`defer` copies their cells.
        self._arrays = [i for i, f in enumerate(schema) if pa.types.is_fixed_size_list(f.type)]

    @property
    def empty(self) -> pa.Table:
        """An empty table of :attr:`fields`, made once (``Schema.empty_table`` lets go of
        the GIL three times a column)."""
        if self._empty is None:
            self._empty = self.fields.empty_table()
        return self._empty

    def convert(self, rows: Sequence[tuple[Any, ...]]) -> pa.Table | None:
        """``rows`` as a table of the schema, or None when a value is not plain."""
        checks = self.checks
        if checks is None or not rows:
            return None
        columns = zip(*rows, strict=True)
        if not all(check(values) for check, values in zip(checks, columns, strict=True)):
            return None
        try:
            cells = pa.array(rows, type=self._struct)
        except _NOT_PLAIN:
            return None
        if not isinstance(cells, pa.StructArray):  # (chunked: more than 2 GiB of text)
            return pa.Table.from_struct_array(cells)
        # (The struct has no nulls of its own, so its fields are its columns.)
        return pa.Table.from_arrays(
            [cells.field(i) for i in range(cells.type.num_fields)], schema=self.fields
        )

    def defer(self, rows: list[tuple[Any, ...]]) -> DeferredRows | None:
        """``rows`` unconverted, for a later :meth:`convert` that cannot step aside; None
        when a value is not a plain scalar of its column (or could still fail): the
        caller converts them now, the general way if need be."""
        checks = self.checks
        if checks is None or not rows:
            return None
        columns = list(zip(*rows, strict=True))
        nbytes = (_TUPLE + _SLOT * len(self.fields)) * len(rows)
        for check, f, values in zip(checks, self.fields, columns, strict=True):
            if not check(values):
                return None
            size = _certain_bytes(f.type, values)
            if size is None:
                return None
            nbytes += size
        if self._arrays:  # (the caller may write into its arrays after the log)
            for i in self._arrays:
                columns[i] = tuple(v.copy() for v in columns[i])
            rows = list(zip(*columns, strict=True))
        else:  # (a copy of the list: the Table's shallow copies share its own)
            rows = list(rows)
        return DeferredRows(rows, self, nbytes)


def plain_arrays(values: Mapping[str, Any]) -> dict[str, pa.Array] | None:
    """Values of :data:`PLAIN_TYPES` as one-row arrays of their Arrow types (NaN as
    null), converted in one call: three releases of the GIL instead of three per
    value. None when a value is of another type or cannot be stored (an int beyond
    int64, a lone surrogate): the caller's general path decides, or says why."""
    try:
        fields = [(name, PLAIN_TYPES[type(v)]) for name, v in values.items()]
    except KeyError:
        return None
    row = tuple(v if v == v else None for v in values.values())  # (NaN: null)
    try:
        cells = pa.array([row], type=pa.struct(fields))
    except _NOT_PLAIN:
        return None
    return {name: cells.field(i) for i, name in enumerate(values)}
