"""The JSON codec of Arrow column types (docs/format.md, "Column types"): how a
manifest's ``schema`` names each column's Arrow type."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from tablelog.errors import ColumnTypeError, FormatError

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


#: Largest ``size`` of a fixed_list / fixed_binary type a manifest may declare (Arrow's
#: own limit is that of a 32-bit int).
_MAX_FIXED_SIZE = 2**31 - 1


def type_from_json(value: Any, *, depth: int = 0) -> pa.DataType:
    """Inverse of :func:`type_to_json`; rejects anything it does not know, always with
    a :class:`ColumnTypeError` (never a raw builtin or Arrow exception)."""
    try:
        return _type_from_json(value, depth=depth)
    except ColumnTypeError:
        raise
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        OverflowError,
        RecursionError,
        pa.ArrowException,
    ) as e:
        raise ColumnTypeError(f"malformed column type {_short(value)} ({e})") from e


def stored_type(arrow: Any, *, column: str, where: str) -> pa.DataType:
    """The Arrow type a manifest declares for ``column`` (read from ``where``): a
    :class:`FormatError` when it cannot be one."""
    try:
        return type_from_json(arrow)
    except ColumnTypeError as e:
        raise FormatError(f"{where}: column {column!r} has an unreadable type: {e}") from e


def _short(value: Any) -> str:
    try:
        return f"{value!r:.60}"
    except (RecursionError, ValueError):
        return f"<{type(value).__name__}>"


def _fixed_size(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_FIXED_SIZE:
        raise ColumnTypeError(
            f"{what} must be a whole number 0..{_MAX_FIXED_SIZE}, got {value!r:.30}"
        )
    return value


def _type_from_json(value: Any, *, depth: int = 0) -> pa.DataType:
    if depth > 64:
        raise ColumnTypeError("column type is nested more than 64 levels deep")
    if isinstance(value, str):
        if value not in _PRIMITIVES:
            raise ColumnTypeError(f"unknown column type {value!r:.60}")
        return _PRIMITIVES[value]
    if not isinstance(value, dict) or not value:
        raise ColumnTypeError(f"malformed column type {_short(value)}")
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
        size = _fixed_size(value["size"], "fixed_list size")
        return pa.list_(_type_from_json(value["fixed_list"], depth=d), size)
    if "list" in value:
        return pa.list_(_type_from_json(value["list"], depth=d))
    if "struct" in value:
        return pa.struct([(str(n), _type_from_json(t, depth=d)) for n, t in value["struct"]])
    if "fixed_binary" in value:
        return pa.binary(_fixed_size(value["fixed_binary"], "fixed_binary size"))
    raise ColumnTypeError(f"malformed column type {_short(value)}")


#: Arrow type names (docs/format.md, "Column types") that widen to double together.
NUMERIC_TYPES = frozenset(
    {
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float",
        "double",
        "halffloat",
    }
)


def merged_type(a: Any, b: Any) -> Any:
    """The type (as JSON) of a column that was ``a`` and is logged as ``b``: the same
    type, the other one where one is ``null`` (no value yet), ``double`` for two
    numeric types; None when they cannot be one column (docs/format.md, "Schema column")."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if isinstance(a, str) and isinstance(b, str) and {a, b} <= NUMERIC_TYPES:
        return "double"
    return None
