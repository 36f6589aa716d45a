"""JSON text of cell values: how a column whose values vary in shape or type stores
each value (docs/format.md, "Column types"); also used for media cells' extra fields."""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from tablelog.errors import ColumnTypeError


def surrogate_at(text: str) -> int | None:
    """Where ``text`` has its first lone surrogate, or None. Such text has no UTF-8, so
    no Parquet file, JSON object or S3 key can hold it."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as e:
        return e.start
    return None


def no_utf8(what: str, text: str, at: int) -> str:
    """The refusal of text with a lone surrogate at ``at`` (:func:`surrogate_at`)."""
    return (
        f"{what} contains a lone surrogate {text[at]!r} at position {at}, which has no "
        "UTF-8 (text is stored as UTF-8): decode the bytes it came from with "
        "errors='replace', or store them as bytes"
    )


def check_text(what: str, value: Any, error: type[Exception] = ColumnTypeError) -> None:
    """Raise ``error`` if ``value`` (text, or lists and dicts of it, keys included)
    holds text with a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            at = surrogate_at(item)
            if at is not None:
                raise error(no_utf8(what, item, at))
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


def is_nan(value: Any) -> bool:
    """Whether ``value`` is a float NaN (of any numeric type)."""
    try:
        return isinstance(value, float | numbers.Real) and math.isnan(value)
    except (TypeError, ValueError):
        return False


def as_float(value: Any) -> float | None:
    """A complex number with no imaginary part, or a numpy ``longdouble``, as the
    float64 that equals it (W&B counts them as numbers); None when it is not such a
    value or no float64 equals it (those are refused)."""
    t = type(value)
    if not (isinstance(value, complex) or t.__module__ == "numpy") or (
        not isinstance(value, numbers.Complex) or isinstance(value, numbers.Integral)
    ):
        return None
    if isinstance(value, numbers.Real) and getattr(value, "itemsize", 8) <= 8:
        return None  # (float32/float64 and smaller: numbers as they are)
    if value.imag != 0:
        return None
    real = float(value.real)
    return real if real == value.real else None


def to_json_text(value: Any) -> str | None:
    """A value as JSON text (for columns whose shapes vary or mixed types)."""
    if value is None or is_nan(value) or is_pandas_null(value):
        return None
    text = json.dumps(plain(value), sort_keys=True, ensure_ascii=False, allow_nan=False)
    at = surrogate_at(text)
    if at is not None:
        raise ColumnTypeError(no_utf8("a value", text, at))
    return text


def is_pandas_null(value: Any) -> bool:
    """Whether ``value`` is pandas' ``NaT`` or ``NA`` (their module moved between versions)."""
    t = type(value)
    return t.__name__ in ("NaTType", "NAType") and t.__module__.startswith("pandas")


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (numpy values and arrays, dates, decimals and bytes
    converted); a media value raises :class:`ColumnTypeError`."""
    if is_pandas_null(value):
        return None
    real = as_float(value)
    if real is not None:
        return plain(real)
    if getattr(value, "_tablelog_media", False):
        raise ColumnTypeError(
            f"a media value ({type(value).__name__}) must be a cell of its own; it cannot be "
            "stored inside a list or dict, or in a column of mixed types"
        )
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, _dt.date | _dt.time | _dt.timedelta | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
