"""Column typing: the logical kind of a Python value, and Arrow types <-> JSON.

This is the one module that knows how values map to Arrow types. Logical kinds
follow W&B: ``number`` (int and float), ``bool``, ``str``, ``list``, ``dict``,
``datetime``, ``bytes``, ``media``; ``json`` marks a column stored as JSON text.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from tablelog.errors import ColumnTypeError

_KIND_BY_TYPE: dict[type, str] = {
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
    decimal.Decimal: "number",
}


def _is_nan(value: Any) -> bool:
    try:
        return isinstance(value, float | numbers.Real) and math.isnan(value)
    except (TypeError, ValueError):
        return False


def kind_of(value: Any) -> str | None:
    """The logical kind of ``value``; None for a null (``None`` or NaN)."""
    if value is None:
        return None
    kind = _KIND_BY_TYPE.get(type(value))
    if kind is not None:
        if kind == "number" and type(value) is float and value != value:
            return None
        return kind
    return _slow_kind(value)


def _slow_kind(value: Any) -> str | None:
    if getattr(value, "_tablelog_media", False):
        return "media"
    type_name = type(value).__module__ + "." + type(value).__name__
    if type_name in ("numpy.bool_", "numpy.bool"):
        return "bool"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Number):
        if _is_nan(value):
            return None
        if isinstance(value, numbers.Real):
            return "number"
        raise ColumnTypeError(f"complex numbers are not supported: {value!r}")
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes"
    if isinstance(value, _dt.date) or type_name in ("numpy.datetime64", "pandas.Timestamp"):
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


def check_nesting(column: str, value: Any) -> None:
    """Refuse lists/dicts nested deeper than MAX_NESTING (Arrow and JSON recurse on them)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ColumnTypeError(
                f"a value of column {column!r} is nested more than {MAX_NESTING} levels deep"
            )
        if isinstance(item, Mapping):
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
        return "dict"
    if pa.types.is_dictionary(t):
        return kind_of_arrow(t.value_type)
    raise ColumnTypeError(f"Arrow type {t} is not supported in a table column")


def check_kind(column: str, value: Any, have: str | None) -> str | None:
    """The column's kind after ``value``; raise ColumnTypeError on a type change."""
    kind = kind_of(value)
    if kind is None or have is None or kind == have:
        return have if kind is None else kind
    raise ColumnTypeError(
        f"column {column!r} holds {have} values, but {value!r:.60} is {kind} "
        f"({type(value).__name__}); convert it, or create the Table with allow_mixed_types=True"
    )


# ------------------------------------------------------------------- values to Arrow


def to_json_text(value: Any) -> str | None:
    """A value as JSON text (for columns whose shapes vary or mixed types)."""
    if value is None or _is_nan(value):
        return None
    return json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, _dt.date | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _roundtrips(arr: pa.Array, values: list[Any]) -> bool:
    back = arr.to_pylist()
    return all(_same(a, b) for a, b in zip(back, values, strict=True))


def _same(stored: Any, given: Any) -> bool:
    if given is None or _is_nan(given):
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


def _nan_to_none(values: list[Any]) -> list[Any]:
    # pyarrow's from_pandas=True would do this, but imports pandas on first use.
    return [None if (type(v) is float and v != v) else v for v in values]


def _has_struct(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_struct(t.value_type)
    return False


def column_to_arrow(
    name: str, values: list[Any], kind: str | None, *, target: pa.DataType | None = None
) -> pa.Array:
    """An Arrow array for one column of Python values of logical ``kind``.

    ``target`` is the type earlier batches of the column used; integers widen to
    float64 if the batch needs it. Nested values whose shapes vary become JSON text.
    """
    if kind is None:
        return pa.nulls(len(values), type=target or pa.null())
    if kind == "json":
        return pa.array([to_json_text(v) for v in values], type=pa.string())
    if target is not None and pa.types.is_string(target) and kind in ("list", "dict"):
        return pa.array([to_json_text(v) for v in values], type=pa.string())
    try:
        if kind == "number":
            arr = pa.array(_nan_to_none(values))
            if target is not None and pa.types.is_integer(target):
                # A float in an int column widens the column; it is never truncated.
                return arr.cast(pa.float64()) if not pa.types.is_integer(arr.type) else arr
            if target is not None:
                return arr.cast(target)
            if pa.types.is_decimal(arr.type) or pa.types.is_floating(arr.type):
                return arr
            return arr.cast(pa.int64()) if pa.types.is_integer(arr.type) else arr
        if kind in ("list", "dict", "media"):
            arr = pa.array(_nan_to_none(values), type=target)
            if kind == "media" or not _has_struct(arr.type) or _roundtrips(arr, values):
                return arr
            raise pa.ArrowInvalid("shapes vary")
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as e:
        if kind in ("list", "dict"):
            return pa.array([to_json_text(v) for v in values], type=pa.string())
        raise ColumnTypeError(f"column {name!r} cannot be stored as {kind}: {e}") from e


# ------------------------------------------------------------ Arrow types <-> JSON

_PRIMITIVES: dict[str, pa.DataType] = {
    str(t): t
    for t in (
        pa.null(),
        pa.bool_(),
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.uint64(),
        pa.float16(),
        pa.float32(),
        pa.float64(),
        pa.string(),
        pa.large_string(),
        pa.binary(),
        pa.large_binary(),
        pa.date32(),
        pa.date64(),
        pa.string_view(),
        pa.binary_view(),
    )
}


def type_to_json(t: pa.DataType) -> Any:
    """A JSON description of an Arrow type (docs/format.md, "Column types")."""
    if str(t) in _PRIMITIVES and _PRIMITIVES[str(t)] == t:
        return str(t)
    if pa.types.is_timestamp(t):
        return {"timestamp": t.unit, "tz": t.tz}
    if pa.types.is_duration(t):
        return {"duration": t.unit}
    if pa.types.is_time(t):
        return {"time": t.unit, "bits": t.bit_width}
    if pa.types.is_decimal(t):
        return {"decimal": [t.precision, t.scale], "bits": t.bit_width}
    if pa.types.is_fixed_size_list(t):
        return {"fixed_list": type_to_json(t.value_type), "size": t.list_size}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return {"list": type_to_json(t.value_type)}
    if pa.types.is_struct(t):
        return {"struct": [[f.name, type_to_json(f.type)] for f in t]}
    if pa.types.is_fixed_size_binary(t):
        return {"fixed_binary": t.byte_width}
    if pa.types.is_dictionary(t):
        return type_to_json(t.value_type)
    raise ColumnTypeError(f"Arrow type {t} is not supported in a table column")


def type_from_json(value: Any, *, depth: int = 0) -> pa.DataType:
    """Inverse of :func:`type_to_json`; rejects anything it does not know."""
    if depth > 64:
        raise ColumnTypeError("column type is nested more than 64 levels deep")
    if isinstance(value, str):
        if value not in _PRIMITIVES:
            raise ColumnTypeError(f"unknown column type {value!r:.60}")
        return _PRIMITIVES[value]
    if not isinstance(value, dict) or not value:
        raise ColumnTypeError(f"malformed column type {value!r:.60}")
    d = depth + 1
    if "timestamp" in value:
        return pa.timestamp(value["timestamp"], tz=value.get("tz"))
    if "duration" in value:
        return pa.duration(value["duration"])
    if "time" in value:
        return pa.time32(value["time"]) if value.get("bits") == 32 else pa.time64(value["time"])
    if "decimal" in value:
        p, s = value["decimal"]
        return pa.decimal256(p, s) if value.get("bits") == 256 else pa.decimal128(p, s)
    if "fixed_list" in value:
        return pa.list_(type_from_json(value["fixed_list"], depth=d), int(value["size"]))
    if "list" in value:
        return pa.list_(type_from_json(value["list"], depth=d))
    if "struct" in value:
        return pa.struct([(str(n), type_from_json(t, depth=d)) for n, t in value["struct"]])
    if "fixed_binary" in value:
        return pa.binary(int(value["fixed_binary"]))
    raise ColumnTypeError(f"malformed column type {value!r:.60}")
