"""The viewer's filter language: a small, safe expression parsed into a Polars predicate.

Nothing the user types is evaluated as Python or SQL: the text is tokenized and
parsed here, and the only things it can build are column references, literals,
comparisons and boolean connectives, so a filter can neither read a file nor call a
function. Grammar (keywords are case-insensitive)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | atom
    atom    := "(" expr ")"
             | operand "is" ["not"] "null"
             | operand ["not"] "in" "(" literal ("," literal)* ")"
             | operand op operand
             | column                      (a boolean column)
    op      := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
             | "~" (contains, as text) | "!~" (does not contain)
    operand := column | literal
    column  := NAME (letters, digits, "_", "." , "/", "-" after the first) | `any name`
    literal := number | 'text' | "text" | true | false | null

``a.b`` names column ``a.b`` if there is one, else field ``b`` of struct column ``a``
(a media cell's ``caption``, say). ``x = null`` means ``x is null``. A date or time
column compares with ISO text (``time >= '2026-01-31'``). Comparisons follow SQL:
a null compares as unknown, and a row is kept only when the whole filter is true.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from tablelog.errors import TablelogError

MAX_FILTER_CHARS = 4000
_MAX_DEPTH = 64


class FilterError(TablelogError, ValueError):
    """A filter expression that does not parse or does not fit the table's columns."""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<quoted>`(?:[^`]|``)+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_./-]*)
  | (?P<op>==|!=|<>|<=|>=|!~|=|<|>|~)
  | (?P<punct>[(),-])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
_OPS = {"=": "==", "==": "==", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">"}
_OPS |= {">=": ">=", "~": "~", "!~": "!~"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, name, kw, op, punct, end
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"filter: unexpected {text[pos]!r} at position {pos + 1}")
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "name" and value.lower() in _KEYWORDS:
            out.append(_Tok("kw", value.lower(), pos))
        elif kind == "quoted":
            out.append(_Tok("name", value[1:-1].replace("``", "`"), pos))
        elif kind != "ws":
            out.append(_Tok(kind, value, pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


@dataclass(frozen=True)
class _Operand:
    expr: pl.Expr
    dtype: pl.DataType | None  # None for a literal
    value: Any = None  # the literal's Python value
    text: str = ""


class _Parser:
    def __init__(self, text: str, schema: pl.Schema) -> None:
        self.text = text
        self.schema = schema
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    # -- helpers --------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, what: str, tok: _Tok | None = None) -> FilterError:
        tok = tok or self.peek()
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return FilterError(f"filter: {what} at position {tok.pos + 1}, found {found}")

    def is_kw(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "kw" and tok.text == word

    def expect(self, kind: str, text: str) -> None:
        tok = self.peek()
        if tok.kind != kind or tok.text != text:
            raise self.error(f"expected {text!r}")
        self.i += 1

    # -- grammar --------------------------------------------------------------
    def parse(self) -> pl.Expr:
        expr = self.or_()
        if self.peek().kind != "end":
            raise self.error("expected 'and', 'or' or the end of the filter")
        return expr

    def or_(self) -> pl.Expr:
        expr = self.and_()
        while self.is_kw("or"):
            self.take()
            expr = expr | self.and_()
        return expr

    def and_(self) -> pl.Expr:
        expr = self.not_()
        while self.is_kw("and"):
            self.take()
            expr = expr & self.not_()
        return expr

    def not_(self) -> pl.Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(f"filter nests deeper than {_MAX_DEPTH} levels")
        try:
            if self.is_kw("not"):
                self.take()
                return ~self.not_()
            return self.atom()
        finally:
            self.depth -= 1

    def atom(self) -> pl.Expr:
        tok = self.peek()
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            expr = self.or_()
            self.expect("punct", ")")
            return expr
        left = self.operand()
        nxt = self.peek()
        if nxt.kind == "kw" and nxt.text == "is":
            self.take()
            negate = self.is_kw("not")
            if negate:
                self.take()
            self.expect("kw", "null")
            return left.expr.is_not_null() if negate else left.expr.is_null()
        if nxt.kind == "kw" and nxt.text in ("in", "not"):
            negate = nxt.text == "not"
            self.take()
            if negate:
                self.expect("kw", "in")
            return self.membership(left, negate)
        if nxt.kind == "op":
            self.take()
            return self.compare(left, _OPS[nxt.text], self.operand(), nxt)
        if left.dtype is not None and left.dtype == pl.Boolean:
            return left.expr
        raise self.error(f"expected a comparison after {left.text!r} (=, !=, <, ~, is null, in)")

    def literal(self) -> _Operand:
        tok = self.take()
        sign = ""
        if tok.kind == "punct" and tok.text == "-":
            sign, tok = "-", self.take()
            if tok.kind != "num":
                raise self.error("expected a number after '-'", tok)
        if tok.kind == "num":
            text = sign + tok.text
            value: Any = float(text) if re.search(r"[.eE]", text) else int(text)
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                value = float(value)
            return _Operand(pl.lit(value), None, value, text)
        if tok.kind == "str":
            quote = tok.text[0]
            value = tok.text[1:-1].replace(quote * 2, quote)
            return _Operand(pl.lit(value, dtype=pl.String), None, value, tok.text)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            value = tok.text == "true"
            return _Operand(pl.lit(value), None, value, tok.text)
        if tok.kind == "kw" and tok.text == "null":
            return _Operand(pl.lit(None), None, None, "null")
        raise self.error("expected a column, a number, 'text', true, false or null", tok)

    def operand(self) -> _Operand:
        tok = self.peek()
        if tok.kind == "name":
            self.take()
            expr, dtype = self.column(tok)
            return _Operand(expr, dtype, None, tok.text)
        return self.literal()

    def column(self, tok: _Tok) -> tuple[pl.Expr, pl.DataType]:
        name = tok.text
        if name in self.schema:
            return pl.col(name), self.schema[name]
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            base = ".".join(parts[:cut])
            if base not in self.schema:
                continue
            expr = pl.col(base)
            dtype: pl.DataType = self.schema[base]
            for field in parts[cut:]:
                fields = (
                    {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
                )
                if field not in fields:
                    raise FilterError(
                        f"filter: column {base!r} has no field {field!r} (position "
                        f"{tok.pos + 1}); its fields: {sorted(fields) or 'none (not a struct)'}"
                    )
                expr, dtype = expr.struct.field(field), _instance(fields[field])
            return expr, dtype
        names = ", ".join(list(self.schema)[:40])
        raise FilterError(
            f"filter: no column {name!r} (position {tok.pos + 1}); the columns are: {names}"
            " (quote other names with backticks: `my col`)"
        )

    def coerce(self, col: _Operand, lit: _Operand, at: _Tok) -> pl.Expr:
        """``lit`` as a value comparable with column ``col``, or a FilterError."""
        dtype, value = col.dtype, lit.value
        assert dtype is not None
        if value is None:
            return pl.lit(None, dtype=dtype)
        if dtype.is_numeric():
            if isinstance(value, int | float) and not isinstance(value, bool):
                return pl.lit(value)
            kind = "a number"
        elif dtype == pl.Boolean:
            if isinstance(value, bool):
                return pl.lit(value)
            kind = "true or false"
        elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            if isinstance(value, str):
                return pl.lit(value, dtype=pl.String)
            kind = "'text'"
        elif isinstance(dtype, pl.Datetime | pl.Date):
            if isinstance(value, str):
                try:
                    when = dt.datetime.fromisoformat(value)
                except ValueError:
                    raise FilterError(
                        f"filter: {value!r} is not an ISO date or time (position {at.pos + 1})"
                    ) from None
                if isinstance(dtype, pl.Date):
                    return pl.lit(when.date())
                tz = getattr(dtype, "time_zone", None)
                if tz is not None and when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                return pl.lit(when).cast(dtype)
            kind = "an ISO date or time in quotes"
        else:
            raise FilterError(
                f"filter: column {col.text!r} is {dtype} and cannot be compared "
                f"(position {at.pos + 1}); compare one of its fields or another column"
            )
        raise FilterError(
            f"filter: column {col.text!r} is {dtype}: compare it with {kind}, not "
            f"{lit.text} (position {at.pos + 1})"
        )

    def compare(self, left: _Operand, op: str, right: _Operand, at: _Tok) -> pl.Expr:
        if left.dtype is None and right.dtype is not None and op not in ("~", "!~"):
            left, right = right, left
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if op in ("~", "!~"):
            if left.dtype is None or (right.dtype is None and not isinstance(right.value, str)):
                raise FilterError(
                    f"filter: '~' takes a column on its left and 'text' on its right "
                    f"(position {at.pos + 1})"
                )
            if right.dtype is None:
                found = left.expr.cast(pl.String).str.contains(right.value, literal=True)
            else:
                found = left.expr.cast(pl.String).str.contains(
                    right.expr.cast(pl.String), literal=True
                )
            return ~found if op == "!~" else found
        null = right.dtype is None and right.value is None and left.dtype is not None
        if null and op in ("==", "!="):  # x = null reads as x is null
            return left.expr.is_null() if op == "==" else left.expr.is_not_null()
        a = left.expr
        b = right.expr if right.dtype is not None or left.dtype is None else None
        if b is None:
            b = self.coerce(left, right, at)
        elif left.dtype is not None and right.dtype is not None:
            self.check_pair(left, right, at)
        ops = {
            "==": a.eq, "!=": a.ne, "<": a.lt, "<=": a.le, ">": a.gt, ">=": a.ge,
        }  # fmt: skip
        return ops[op](b)

    def check_pair(self, left: _Operand, right: _Operand, at: _Tok) -> None:
        a, b = left.dtype, right.dtype
        assert a is not None and b is not None
        if (a.is_numeric() and b.is_numeric()) or a == b:
            return
        raise FilterError(
            f"filter: cannot compare column {left.text!r} ({a}) with column "
            f"{right.text!r} ({b}) (position {at.pos + 1})"
        )

    def membership(self, left: _Operand, negate: bool) -> pl.Expr:
        self.expect("punct", "(")
        items = [self.literal()]
        while self.peek().kind == "punct" and self.peek().text == ",":
            self.take()
            items.append(self.literal())
        at = self.peek()
        self.expect("punct", ")")
        if left.dtype is None:
            raise FilterError(f"filter: 'in' needs a column on its left (position {at.pos + 1})")
        values = [self.coerce(left, v, at) for v in items if v.value is not None]
        found = pl.lit(False)
        for v in values:
            found = found | left.expr.eq(v)
        if any(v.value is None for v in items):
            found = found | left.expr.is_null()
        return ~found if negate else found


def _instance(dtype: Any) -> pl.DataType:
    """A struct field's type as an instance (Polars may hand back the class)."""
    return dtype() if isinstance(dtype, type) else dtype  # type: ignore[no-any-return]


def parse_filter(text: str, schema: pl.Schema) -> pl.Expr | None:
    """The predicate ``text`` describes over columns ``schema``; None for a blank filter.

    Raises :class:`FilterError` naming what is wrong and where (1-based position).
    """
    if not text.strip():
        return None
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"filter: longer than {MAX_FILTER_CHARS} characters")
    return _Parser(text, schema).parse()


__all__ = ["MAX_FILTER_CHARS", "FilterError", "parse_filter"]
