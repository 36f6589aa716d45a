"""Input to a Table: DataFrames, Arrow tables, arrays and Series as Arrow columns in
the types the store keeps (docs/values.md), and the checks of column names and flags
that ``Table(...)``, ``add_column`` and ``cast`` share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from tablelog.errors import ColumnTypeError, TableError
from tablelog.format.arrow_types import type_to_json
from tablelog.format.manifest import INCREMENT_COLUMN
from tablelog.format.media_cells import as_media_columns
from tablelog.format.values import no_utf8, surrogate_at
from tablelog.table.types import (
    check_bits,
    check_kind,
    column_to_arrow,
    kind_of,
    kind_of_arrow,
    value_bits,
)

#: Names readers add to the rows they return (the increment of each row, and a
#: scan's per-file tag): a user column of that name could never be read back.
RESERVED_COLUMNS = (INCREMENT_COLUMN, "__tablelog_source")


def frame_names(df: Any) -> list[Any]:
    """A DataFrame's column names as the Table's: pandas labels that are not strings
    (``pd.DataFrame(rows)`` numbers its columns) as ``str(label)``, as Arrow does."""
    return [c if isinstance(c, str) else str(c) for c in df.columns]


def is_dataframe(data: Any) -> bool:
    module = type(data).__module__.split(".")[0]
    return isinstance(data, pa.Table) or (
        module in ("pandas", "polars") and type(data).__name__ == "DataFrame"
    )


def dataframe_to_arrow(df: Any) -> pa.Table | None:
    """``df`` as Arrow, zero-copy where it can; None for a pandas frame with object
    columns Arrow cannot type (media values), which is then added row by row."""
    module = type(df).__module__.split(".")[0]
    if module == "polars":
        import polars as pl

        if any(dtype == pl.Object for dtype in df.schema.values()):
            return None  # Python objects: checked and converted value by value
        table = df.to_arrow()
    elif module == "pandas":
        check_columns(frame_names(df))
        try:
            table = pa.Table.from_pandas(df, preserve_index=False)
        except (
            pa.ArrowTypeError,
            pa.ArrowInvalid,
            pa.ArrowNotImplementedError,
            TypeError,
            UnicodeEncodeError,
        ):
            return None  # (object columns, sparse columns...): checked value by value
    elif isinstance(df, pa.Table):
        table = df
    else:
        raise TableError(
            f"dataframe must be a pandas or Polars DataFrame (or an Arrow table), "
            f"got {type(df).__name__}"
        )
    check_columns(table.column_names)
    table = stored_types(table)
    # zero-copy: chunked columns are fine for Arrow and Parquet
    return as_media_columns(table)


def plain_type(t: pa.DataType) -> pa.DataType:
    """``t`` as the store keeps it: dictionary (categorical) types as their values,
    extension types as their storage, large and view types as plain ones, float16 as
    float32, date64 as date32 (all lossless; docs/values.md)."""
    if isinstance(t, pa.BaseExtensionType):
        return plain_type(t.storage_type)
    if pa.types.is_dictionary(t):
        return plain_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if t == pa.float16():
        return pa.float32()
    if t == pa.date64():
        return pa.date32()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(plain_field(t.value_field))
    if pa.types.is_large_list_view(t):
        return pa.list_(plain_field(t.value_field))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(plain_field(t.value_field), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([plain_field(f) for f in t])
    return t


def plain_field(f: pa.Field) -> pa.Field:
    return f.with_type(plain_type(f.type))


def stored_types(table: pa.Table) -> pa.Table:
    """``table`` with the column types the store keeps (``plain_type``); a column of
    a type it cannot keep is refused here, naming the column."""
    fields = []
    for f in table.schema:
        plain = plain_field(f)
        check_storable(f.name, plain.type)
        fields.append(plain)
    schema = pa.schema(fields)
    if schema == table.schema:
        return table
    columns = []
    for f, col in zip(schema, table.columns, strict=True):
        try:
            columns.append(plain_column(col, f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise ColumnTypeError(f"column {f.name!r} cannot be stored as {f.type}: {e}") from e
    return pa.table(columns, schema=schema)


def plain_column(col: pa.ChunkedArray, t: pa.DataType) -> pa.ChunkedArray:
    if col.type == t:
        return col
    if isinstance(col.type, pa.BaseExtensionType):
        col = pa.chunked_array([c.storage for c in col.chunks], type=col.type.storage_type)
    return col.cast(t)


def check_storable(name: str, t: pa.DataType) -> None:
    try:
        type_to_json(t)
    except ColumnTypeError:
        raise ColumnTypeError(
            f"column {name!r} has Arrow type {t}, which a table column cannot store; "
            "convert it (for example a map to a list of structs, a union to one type)"
        ) from None


def values_to_arrow(name: str, values: Any, kind_hint: str | None) -> tuple[pa.Array, str | None]:
    """A new column's values (list, numpy, pandas/Polars Series, Arrow) as Arrow."""
    module = type(values).__module__.split(".")[0]
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    elif module == "polars" and str(values.dtype) != "Object":
        arr = values.to_arrow()
    elif module == "pandas" and values.dtype != object:
        arr = pa.Array.from_pandas(values)
    elif (
        module == "numpy"
        and getattr(values, "ndim", 1) == 1
        and values.dtype.kind in "biuf"
        and values.dtype.itemsize <= 8
    ):
        arr = pa.array(values, from_pandas=True)
    else:
        seq = list(values)
        kind = kind_hint
        bits = 0
        for v in seq:
            kind = check_kind(name, v, kind)
            if (kind == "number" or kind == "datetime") and kind_of(v) is not None:
                bits = check_bits(name, bits, value_bits(name, kind, v), v)
        return column_to_arrow(name, seq, kind), kind
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    plain = plain_type(arr.type)
    check_storable(name, plain)
    if plain != arr.type:
        arr = plain_column(pa.chunked_array([arr]), plain).combine_chunks()
    return arr, kind_of_arrow(arr.type)


def unify_types(name: str, a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b or pa.types.is_null(b):
        return a
    if pa.types.is_null(a):
        return b
    if (pa.types.is_integer(a) or pa.types.is_floating(a)) and (
        pa.types.is_integer(b) or pa.types.is_floating(b)
    ):
        if pa.types.is_floating(a) or pa.types.is_floating(b):
            return pa.float64()
        if a == pa.uint64() or b == pa.uint64():
            return pa.uint64()  # (add_data refused negatives with ints above 2**63-1)
        return pa.int64()
    if pa.types.is_decimal(a) and (pa.types.is_integer(b) or pa.types.is_decimal(b)):
        return a
    if pa.types.is_integer(a) and pa.types.is_decimal(b):
        return b
    if pa.types.is_date(a) and pa.types.is_timestamp(b):
        return b  # dates in a column of datetimes: midnight
    if pa.types.is_timestamp(a) and pa.types.is_date(b):
        return a
    if pa.types.is_timestamp(a) and pa.types.is_timestamp(b) and (a.tz is None) == (b.tz is None):
        return a  # (the column's unit and time zone; the same instants)
    if pa.types.is_string(a) or pa.types.is_large_string(a):
        return a
    raise ColumnTypeError(f"column {name!r} changed type from {a} to {b}")


def row_width(data: Any) -> int:
    if data is None:
        return 0
    if hasattr(data, "shape"):
        return int(data.shape[1]) if len(data.shape) >= 2 else 0
    for row in data:
        return len(row)
    return 0


def check_columns(columns: Iterable[Any]) -> list[str]:
    if isinstance(columns, str | bytes) or not hasattr(columns, "__iter__"):
        raise TableError(
            f"columns must be a list of column names, got {type(columns).__name__} {columns!r:.60}"
        )
    cols = list(columns)
    for c in cols:
        if not isinstance(c, str) or not c:
            raise TableError(f"column names must be non-empty strings, got {c!r}")
        at = surrogate_at(c)
        if at is not None:
            raise TableError(no_utf8(f"column name {c!r}", c, at))
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise TableError(f"column names must be unique; repeated: {dupes}")
    reserved = [c for c in cols if c in RESERVED_COLUMNS]
    if reserved:
        raise TableError(
            f"column name(s) {reserved} are reserved: readers add a column of that name to "
            "the rows they return; rename the column"
        )
    return cols


def check_optional(optional: bool | Sequence[bool], n: int) -> list[bool]:
    if isinstance(optional, bool):
        return [optional] * n
    if isinstance(optional, str | bytes) or not hasattr(optional, "__iter__"):
        raise TableError(
            f"optional must be a bool or one bool per column, got {type(optional).__name__}"
        )
    flags = [bool(o) for o in optional]
    if len(flags) != n:
        raise TableError(f"optional has {len(flags)} flags for {n} columns")
    return flags


_CAST_KINDS: dict[Any, str] = {
    int: "number",
    float: "number",
    complex: "number",
    bool: "bool",
    str: "str",
    dict: "dict",
    list: "list",
    tuple: "list",
    bytes: "bytes",
}
_KIND_NAMES = ("number", "bool", "str", "list", "dict", "datetime", "bytes", "media")


def cast_kind(column: str, dtype: Any) -> str:
    import datetime as _dt

    if isinstance(dtype, str) and dtype in _KIND_NAMES:
        return dtype
    if dtype in _CAST_KINDS:
        return _CAST_KINDS[dtype]
    if isinstance(dtype, type):
        if issubclass(dtype, _dt.date | _dt.time | _dt.timedelta):
            return "datetime"
        if getattr(dtype, "_tablelog_media", False):
            return "media"
    raise TableError(
        f"cannot cast column {column!r} to {dtype!r}: give a Python type (int, float, str, "
        f"bool, dict, list, bytes, datetime), a media class, one of {_KIND_NAMES} or a "
        "pyarrow type"
    )
