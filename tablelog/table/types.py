"""Column typing: the logical kind of a Python value, and Arrow types <-> JSON.

This is the one module that knows how values map to Arrow types. Logical kinds
follow W&B: ``number`` (int and float), ``bool``, ``str``, ``list``, ``dict``,
``datetime``, ``bytes``, ``media``; ``json`` marks a column stored as JSON text.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute

from tablelog.errors import ColumnTypeError
from tablelog.format.media_cells import MEDIA_TYPE
from tablelog.format.values import (
    as_float,
    check_text,
    is_nan,
    is_pandas_null,
    no_utf8,
    plain,
    to_json_text,
)
from tablelog.table.plain_rows import INT64, scalar_check

#: The logical kind of a value of each plain Python type (the fast path of :func:`kind_of`).
KIND_BY_TYPE: dict[type, str] = {
    int: "number",
    float: "number",
    bool: "bool",
    str: "str",
    list: "list",
    tuple: "list",
    dict: "dict",
    bytes: "bytes",
    _dt.datetime: "datetime",
    _dt.date: "datetime",
    _dt.time: "datetime",
    _dt.timedelta: "datetime",
    decimal.Decimal: "number",
}


def kind_of(value: Any) -> str | None:
    """The logical kind of ``value``; None for a null (``None`` or NaN)."""
    if value is None:
        return None
    kind = KIND_BY_TYPE.get(type(value))
    if kind is not None:
        if kind == "number" and type(value) is float and value != value:
            return None
        return kind
    return _slow_kind(value)


def _slow_kind(value: Any) -> str | None:
    if getattr(value, "_tablelog_media", False):
        return "media"
    if is_pandas_null(value):
        return None  # pandas' nulls (their module moved between pandas versions)
    type_name = type(value).__module__ + "." + type(value).__name__
    if type_name in ("numpy.bool_", "numpy.bool"):
        return "bool"
    if type_name == "numpy.timedelta64":  # a numpy integer subclass, but a duration
        return None if value != value else "datetime"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Number):
        if is_nan(value):
            return None
        if isinstance(value, numbers.Real) and getattr(value, "itemsize", 8) <= 8:
            return "number"
        if as_float(value) is not None:
            return "number"  # (a float64 holds it exactly: see _as_float)
        if isinstance(value, numbers.Real):
            raise ColumnTypeError(
                f"numpy {type(value).__name__} value {value!r} has no Arrow type and is not "
                "exactly a float64; convert it (float(value), .astype(numpy.float64))"
            )
        raise ColumnTypeError(
            f"complex numbers are not supported: {value!r} (Parquet has no complex type); "
            "store the real and imaginary parts as two columns, or str(value)"
        )
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if type_name == "numpy.ndarray" and (
        value.dtype.kind == "c" or (value.dtype.kind == "f" and value.dtype.itemsize > 8)
    ):
        raise ColumnTypeError(
            f"numpy arrays of dtype {value.dtype} have no Arrow type; convert them "
            "(.astype(numpy.float64))"
        )
    if type_name == "numpy.ndarray" and value.ndim == 0:
        return kind_of(value.item())  # a 0-d array is a scalar
    if isinstance(value, _dt.date | _dt.time | _dt.timedelta) or type_name in (
        "numpy.datetime64",
        "numpy.timedelta64",
        "pandas.Timestamp",
        "pandas.Timedelta",
    ):
        if type_name == "pandas._libs.tslibs.nattype.NaTType":
            return None
        return "datetime"
    if type_name.startswith("pandas.") and type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, Mapping):
        return "dict"
    if type_name == "numpy.ndarray" or (
        isinstance(value, Sequence) and not isinstance(value, str | bytes)
    ):
        return "list"
    raise ColumnTypeError(
        f"values of type {type(value).__name__} cannot be stored in a table: {value!r:.80}; "
        "use numbers, strings, bools, lists, dicts, datetimes, bytes or tablelog media"
    )


MAX_NESTING = 64


def check_cell_text(column: str, value: Any) -> None:
    """Refuse text with a lone surrogate (it has no UTF-8) when it is added: a str, or
    a numpy array of text (a 0-d one is a str cell)."""
    texts = value.ravel().tolist() if _is_ndarray(value) else value
    check_text(f"a value of column {column!r}", texts)


def check_nesting(column: str, value: Any) -> None:
    """Refuse lists/dicts nested deeper than MAX_NESTING (Arrow and JSON recurse on them),
    or holding text (keys included) with a lone surrogate."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ColumnTypeError(
                f"a value of column {column!r} is nested more than {MAX_NESTING} levels deep"
            )
        if depth > 1 and getattr(item, "_tablelog_media", False):
            plain(item)  # raises: media cannot be nested
        if isinstance(item, str) or (_is_ndarray(item) and item.dtype.kind == "U"):
            check_cell_text(column, item)
        elif _is_ndarray(item) and item.dtype.kind == "O":
            stack.extend((v, depth + 1) for v in item.ravel().tolist())
        elif isinstance(item, Mapping):
            stack.extend((k, depth + 1) for k in item if isinstance(k, str))
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)


def kind_of_arrow(t: pa.DataType) -> str | None:
    """The logical kind of an Arrow column type (None for the null type)."""
    if pa.types.is_null(t):
        return None
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "str"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytes"
    if pa.types.is_temporal(t):
        return "datetime"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "list"
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "media" if t == MEDIA_TYPE else "dict"
    if pa.types.is_dictionary(t):
        return kind_of_arrow(t.value_type)
    raise ColumnTypeError(f"Arrow type {t} is not supported in a table column")


def check_kind(column: str, value: Any, have: str | None) -> str | None:
    """The column's kind after ``value``; raise ColumnTypeError on a type change."""
    try:
        kind = kind_of(value)
    except ColumnTypeError as e:
        raise ColumnTypeError(f"column {column!r}: {e}") from None
    if kind is None or have is None or kind == have:
        return have if kind is None else kind
    raise ColumnTypeError(
        f"column {column!r} holds {have} values, but {value!r:.60} is {kind} "
        f"({type(value).__name__}); convert it, or create the Table with allow_mixed_types=True"
    )


# ------------------------------------------------------------------- values to Arrow


def _roundtrips(arr: pa.Array, values: list[Any]) -> bool:
    back = arr.to_pylist()
    return all(_same(a, b) for a, b in zip(back, values, strict=True))


def _same(stored: Any, given: Any) -> bool:
    if given is None or is_nan(given):
        return stored is None
    if hasattr(given, "tolist"):
        given = given.tolist()
    if isinstance(given, Mapping):
        return (
            isinstance(stored, dict)
            and stored.keys() == {str(k) for k in given}
            and all(_same(stored[str(k)], v) for k, v in given.items())
        )
    if isinstance(given, list | tuple):
        return (
            isinstance(stored, list)
            and len(stored) == len(given)
            and all(_same(a, b) for a, b in zip(stored, given, strict=True))
        )
    return bool(stored == given)


_NEVER_NULL, _NAN_IS_NULL, _ASK = 0, 1, 2


def _null_check(t: type) -> int:
    if t.__module__ == "numpy" and t.__name__ == "ndarray":
        # Array cells (ndim >= 1: 0-d arrays become scalars first) are null only as None.
        return _NEVER_NULL
    if t is float or (issubclass(t, numbers.Real) and not issubclass(t, numbers.Integral)):
        return _NAN_IS_NULL  # float, numpy floats: null iff NaN
    if t in KIND_BY_TYPE or issubclass(t, numbers.Integral | str | bytes):
        return _NEVER_NULL
    return _ASK  # None, pandas NA/NaT, numpy datetime64 (NaT), ...


def _nan_to_none(values: list[Any]) -> list[Any]:
    """None for every null: NaN (of any float type), pandas NA/NaT, numpy NaT."""
    # pyarrow's from_pandas=True would do this, but imports pandas on first use.
    checks: dict[type, int] = {}
    out = []
    for v in values:
        t = type(v)
        check = checks.get(t)
        if check is None:
            check = checks[t] = _null_check(t)
        if check == _NEVER_NULL:
            out.append(v)
        elif check == _NAN_IS_NULL:
            out.append(None if v != v else v)
        else:
            out.append(None if v is None or kind_of(v) is None else v)
    return out


def _has_empty_struct(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(_has_empty_struct(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_empty_struct(t.value_type)
    return False


def _is_ndarray(value: Any) -> bool:
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def array_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of a numpy array value (None for anything else)."""
    return tuple(value.shape) if _is_ndarray(value) and value.ndim > 0 else None


def _fixed_shape(name: str, values: list[Any], strict: bool) -> tuple[int, ...] | None:
    """The one shape of a column of numpy arrays (None: not such a column).

    Arrays of one shape are stored as nested fixed-size lists; shapes that vary are a
    ColumnTypeError unless ``strict`` is off (mixed types allowed: JSON text).
    """
    shapes = {array_shape(v) for v in values if v is not None}
    if not shapes or None in shapes:
        return None
    if len(shapes) > 1:
        if not strict:
            return None
        raise ColumnTypeError(
            f"column {name!r} holds numpy arrays of shapes {sorted(map(str, shapes))}; "
            "an array column "
            "keeps one shape (create the Table with allow_mixed_types=True to store arrays "
            "of varying shapes as JSON text)"
        )
    return next(iter(shapes))


def _tensor_array(
    values: list[Any], shape: tuple[int, ...], target: pa.DataType | None
) -> pa.Array:
    import numpy as np

    first = next(v for v in values if v is not None)
    if first.dtype.kind not in "biufUMm":
        raise pa.ArrowInvalid(f"arrays of dtype {first.dtype} are not stored as fixed lists")
    missing = [v is None for v in values]
    has_missing = any(missing)
    if has_missing:
        filler = np.zeros(shape, dtype=first.dtype)
        values = [filler if v is None else v for v in values]
    # (np.array of arrays of one shape stacks them, several times faster than np.stack)
    stacked = np.array(values)
    arr: pa.Array = pa.array(stacked.reshape(-1))
    for size in reversed(shape[1:]):
        arr = pa.FixedSizeListArray.from_arrays(arr, size)
    mask = pa.array(missing) if has_missing else None
    arr = pa.FixedSizeListArray.from_arrays(arr, shape[0], mask=mask)
    return arr.cast(target) if target is not None and arr.type != target else arr


def _numpy_scalars(values: list[Any]) -> pa.Array | None:
    """Numpy scalars of one type (and None) through one numpy array: pyarrow converts
    a list of numpy scalars one by one, about 25 times slower."""
    first = next((v for v in values if v is not None), None)
    t = type(first)
    if (
        first is None
        or t.__module__ != "numpy"
        or not all(type(v) is t or v is None for v in values)
    ):
        return None
    import numpy as np

    mask = [v is None for v in values]
    dense = np.array([first if v is None else v for v in values], dtype=first.dtype)
    return pa.array(dense, mask=np.array(mask) if any(mask) else None)


def _plain_values(values: list[Any], target: pa.DataType) -> pa.Array | None:
    """The common case of a training loop's later logs in one conversion: plain Python
    values of the column's type (:func:`~tablelog.table.plain_rows.scalar_check`). None
    otherwise, and the general path decides."""
    check = scalar_check(target)
    if check is None or not check(values):
        return None
    if target == INT64:
        import numpy as np

        try:  # (through numpy: pyarrow's typed int64 conversion is 5 times slower)
            return pa.array(np.array(values, dtype=np.int64))
        except OverflowError:
            return None
    return pa.array(values, type=target)


#: numpy scalar types stored as the float64 equal to them (``_as_float``).
_WIDE = frozenset({"longdouble", "float128", "float96", "complex64", "complex128", "clongdouble",
                   "complex256", "complex192"})  # fmt: skip


def _python_numbers(values: list[Any]) -> pa.Array:
    """Numbers of mixed types (numpy scalars of several dtypes, ints with decimals) as
    one array: pyarrow refuses to mix numpy dtypes, and infers a decimal column from
    its first value only."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    plain = [v.item() if hasattr(v, "item") and not isinstance(v, int) else v for v in values]
    if any(isinstance(v, decimal.Decimal) for v in plain):
        plain = [decimal.Decimal(v) if isinstance(v, int) else v for v in plain]
    return pa.array(plain)


def decimal_in_integer_column(name: str, column_type: object) -> str:
    """Why a Decimal cannot go into integer column ``name``: float64 would round it."""
    return (
        f"column {name!r} holds integers ({column_type}); decimal values cannot be stored "
        "in it without rounding them to float: log Decimals in a column that held "
        "decimals from its first log, or convert them to float"
    )


def _number_array(name: str, values: list[Any], target: pa.DataType | None) -> pa.Array:
    values = _nan_to_none(values)
    if any(t is complex or t.__name__ in _WIDE for t in {type(v) for v in values}):
        values = [v if as_float(v) is None else as_float(v) for v in values]
    try:
        fast = _numpy_scalars(values)
        arr = fast if fast is not None else _python_numbers(values)
    except OverflowError:
        arr = pa.array(values, type=pa.uint64())  # numpy uint64 above the int64 range
    if target is not None and pa.types.is_null(arr.type):
        return pa.nulls(len(arr), type=target)  # (nulls never widen a column)
    if target is not None and pa.types.is_integer(target):
        if pa.types.is_decimal(arr.type):  # float64 would round it: refuse, never alter
            raise ColumnTypeError(decimal_in_integer_column(name, target))
        # A float in an int column widens the column; it is never truncated.
        return arr.cast(pa.float64()) if not pa.types.is_integer(arr.type) else arr
    if target is not None and pa.types.is_floating(target) and target != pa.float64():
        return arr  # (a float32 column widens to float64 rather than round the values)
    if target is not None:
        return arr if arr.type == target else arr.cast(target)
    if pa.types.is_decimal(arr.type):
        # One type for every log of the column: the scale of the first values, full
        # precision, so later values with no more decimals fit (docs/format.md).
        if arr.type.precision <= 38:
            return arr.cast(pa.decimal128(38, arr.type.scale))
        return arr.cast(pa.decimal256(76, arr.type.scale))
    if pa.types.is_floating(arr.type):
        return arr
    if pa.types.is_integer(arr.type):
        if arr.type == pa.uint64() and pa.compute.max(arr).as_py() > 2**63 - 1:
            return arr
        return arr.cast(pa.int64())
    return arr


def _datetime_array(values: list[Any], target: pa.DataType | None) -> pa.Array:
    values = _nan_to_none(values)
    if any(type(v).__module__ == "numpy" for v in values):
        import numpy as np

        # numpy picks the finest unit of the values (pyarrow refuses mixed units).
        present = np.array([v for v in values if v is not None])
        unit = np.datetime_data(present.dtype)[0] if present.dtype.kind in "mM" else "s"
        if unit not in ("s", "ms", "us", "ns") and not (present.dtype.kind == "M" and unit == "D"):
            present = present.astype(f"{present.dtype.kind}8[s]")  # Arrow has no m, h, W, ...
        arr = pa.array(present)
        if len(present) != len(values):
            it = iter(arr.to_pylist())
            arr = pa.array([None if v is None else next(it) for v in values], type=arr.type)
    else:
        if any(type(v) is _dt.date for v in values) and any(
            isinstance(v, _dt.datetime) for v in values
        ):
            # Dates in a column of datetimes are midnight (pyarrow would otherwise type
            # the column from its first value and drop the datetimes' time of day).
            values = [
                _dt.datetime.combine(v, _dt.time()) if type(v) is _dt.date else v for v in values
            ]
        arr = pa.array(values)
    if target is not None and pa.types.is_date(target) and pa.types.is_timestamp(arr.type):
        return arr  # the column widens to datetimes (Table._append_arrow), never drops time
    return arr.cast(target) if target is not None and arr.type != target else arr


def _media_array(name: str, values: list[Any]) -> pa.Array:
    from tablelog.media.kinds import is_media

    cells: list[dict[str, Any] | None] = []
    for v in values:
        if v is None or kind_of(v) is None:
            cells.append(None)
        elif is_media(v):
            cells.append(v.to_cell())
        else:
            raise ColumnTypeError(
                f"column {name!r} holds media; {v!r:.60} is not a media value "
                "(a media column holds media values and None only)"
            )
    return pa.array(cells, type=MEDIA_TYPE)


def _has_struct(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_struct(t.value_type)
    return False


def column_to_arrow(
    name: str,
    values: list[Any],
    kind: str | None,
    *,
    target: pa.DataType | None = None,
    strict_shapes: bool = True,
) -> pa.Array:
    """An Arrow array for one column of Python values of logical ``kind``.

    ``target`` is the type earlier batches of the column used; integers widen to
    float64 if the batch needs it. Nested values whose shapes vary become JSON text;
    numpy arrays of one shape become nested fixed-size lists (a shape change is a
    ColumnTypeError while ``strict_shapes``). Media values become media cells. Text
    with a lone surrogate is a ColumnTypeError (add_data refuses it first).
    """
    try:
        return _column_to_arrow(name, values, kind, target, strict_shapes)
    except UnicodeEncodeError as e:
        text = e.object if isinstance(e.object, str) else ""
        what = f"a value of column {name!r}"
        if not text:
            raise ColumnTypeError(f"{what} has text with no UTF-8: {e}") from None
        raise ColumnTypeError(no_utf8(what, text, e.start)) from None


def _column_to_arrow(
    name: str,
    values: list[Any],
    kind: str | None,
    target: pa.DataType | None,
    strict_shapes: bool,
) -> pa.Array:
    if kind is None:
        return pa.nulls(len(values), type=target or pa.null())
    if (kind == "number" or kind == "str") and target is not None:
        fast = _plain_values(values, target)
        if fast is not None:
            return fast
    if kind == "media":
        return _media_array(name, values)
    if kind == "json":
        return pa.array([to_json_text(v) for v in values], type=pa.string())
    if kind != "list" and kind != "dict" and any(type(v).__name__ == "ndarray" for v in values):
        values = [v.item() if _is_ndarray(v) and v.ndim == 0 else v for v in values]
    if target is not None and pa.types.is_string(target) and kind in ("list", "dict"):
        return pa.array([to_json_text(v) for v in values], type=pa.string())
    try:
        if kind == "number":
            return _number_array(name, values, target)
        if kind == "datetime":
            return _datetime_array(values, target)
        if kind == "list":
            values = _nan_to_none(values)
            shape = _fixed_shape(name, values, strict_shapes)
            if shape is not None:
                return _tensor_array(values, shape, target)
        if kind in ("list", "dict"):
            arr = pa.array(_nan_to_none(values), type=target)
            if _has_empty_struct(arr.type):
                raise pa.ArrowInvalid("Parquet cannot store a struct without fields")
            if not _has_struct(arr.type) or _roundtrips(arr, values):
                return arr
            raise pa.ArrowInvalid("shapes vary")
        return pa.array(_nan_to_none(values), type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as e:
        if kind in ("list", "dict"):
            return pa.array([to_json_text(v) for v in values], type=pa.string())
        raise ColumnTypeError(f"column {name!r} cannot be stored as {kind}: {e}") from e


# ------------------------------------------------- what one column may mix (add_data)

#: Bits of what a number or datetime column holds so far (``Table._subs``): values
#: whose mix Arrow cannot store faithfully are refused when they are added.
INT, NEG, BIG, HUGE, FLOAT, DEC = 1, 2, 4, 8, 16, 32
DATE, NAIVE, AWARE, TIME, DUR = 64, 128, 256, 512, 1024
#: Integers of magnitude above this do not survive a float64 column.
SAFE_INT = 2**53
_INT64_MAX, _UINT64_MAX = 2**63 - 1, 2**64 - 1


def _int_bits(column: str, value: int) -> int:
    if -SAFE_INT <= value <= SAFE_INT:
        return INT | NEG if value < 0 else INT
    if value > _UINT64_MAX or value < -_INT64_MAX - 1:
        raise ColumnTypeError(
            f"column {column!r}: the integer {value} does not fit in 64 bits; store it as a "
            "str (or a decimal.Decimal)"
        )
    bits = INT | BIG | (NEG if value < 0 else 0)
    return bits | HUGE if value > _INT64_MAX else bits


def value_bits(column: str, kind: str, value: Any) -> int:
    """What ``value`` (of ``kind`` number or datetime) adds to its column's bits;
    a ColumnTypeError for a value no column can store."""
    t = type(value)
    if t is float:
        return FLOAT
    if t is int:
        return _int_bits(column, value)
    if kind == "number":
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                raise ColumnTypeError(
                    f"column {column!r}: the decimal {value} is not finite; decimal columns "
                    "hold finite values (use a float column for inf and NaN)"
                )
            return DEC
        if isinstance(value, numbers.Integral):
            return _int_bits(column, int(value))
        name = t.__module__ + "." + t.__name__
        if as_float(value) is not None:
            return FLOAT
        if name.startswith("numpy.") and getattr(value, "itemsize", 8) <= 8:
            return FLOAT
        if t.__module__ == "numpy":
            raise ColumnTypeError(
                f"column {column!r}: numpy {t.__name__} values have no Arrow type; convert "
                "them (for example with float(value) or .astype(numpy.float64))"
            )
        raise ColumnTypeError(
            f"column {column!r}: numbers of type {t.__name__} cannot be stored; convert "
            "them to int, float or decimal.Decimal"
        )
    return _time_bits(value)


def _time_bits(value: Any) -> int:
    if isinstance(value, _dt.datetime):
        return AWARE if value.utcoffset() is not None else NAIVE
    if isinstance(value, _dt.date):
        return DATE
    if isinstance(value, _dt.time):
        return TIME
    if isinstance(value, _dt.timedelta):
        return DUR
    kind = getattr(value, "dtype", None)
    if kind is not None and kind.kind == "m":
        return DUR
    if kind is not None and kind.kind == "M":
        import numpy as np

        return DATE if np.datetime_data(kind)[0] == "D" else NAIVE
    return NAIVE


def arrow_bits(t: pa.DataType, arr: Any = None) -> int:
    """The bits of an Arrow column (``arr``, if given, for the range of integers)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_floating(t):
        return FLOAT
    if pa.types.is_decimal(t):
        return DEC
    if pa.types.is_date(t):
        return DATE
    if pa.types.is_timestamp(t):
        return AWARE if t.tz is not None else NAIVE
    if pa.types.is_time(t):
        return TIME
    if pa.types.is_duration(t):
        return DUR
    if not pa.types.is_integer(t):
        return 0
    bits = INT
    if arr is not None and len(arr) and arr.null_count < len(arr):
        lo_hi = pyarrow.compute.min_max(arr)
        lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
        bits |= _int_bits("", lo) | _int_bits("", hi)
    return bits


#: Pairs of bits one column cannot hold together, and why.
_CLASHES: tuple[tuple[int, int, str], ...] = (
    (BIG, FLOAT, "integers beyond ±2**53 and floats (a float64 column would round them)"),
    (HUGE, NEG, "integers above 2**63-1 and negative integers (no 64-bit type holds both)"),
    (DEC, FLOAT, "decimals and floats (convert one to the other)"),
    (DEC, BIG, "decimals and integers beyond ±2**53"),
    (AWARE, NAIVE | DATE, "time-zone-aware datetimes and naive datetimes or dates"),
    (TIME, DATE | NAIVE | AWARE | DUR, "times of day and other date or time values"),
    (DUR, DATE | NAIVE | AWARE, "durations and dates or datetimes"),
)


def check_bits(column: str, have: int, new: int, value: Any) -> int:
    """``have | new``; a ColumnTypeError when the column cannot hold both."""
    both = have | new
    for a, b, why in _CLASHES:
        if both & a and both & b and not (have & a and have & b):
            raise ColumnTypeError(
                f"column {column!r} cannot hold {why}: {value!r:.60} "
                f"({type(value).__name__}) does not fit the values it holds; convert it, "
                "or store the column as str"
            )
    return both
