"""The viewer's filter language against a reference evaluator (SQL's three-valued logic),
what it refuses, and the lenient ``run.json`` reader and chart helpers of tablelog.ui."""

from __future__ import annotations

import json
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablelog.ui.catalog import run_info, runs_frame
from tablelog.ui.charts import MAX_POINTS, Series, line_chart, thin
from tablelog.ui.filters import FilterError, parse_filter

ROWS = {
    "a": [1, 2, None, -3, 2, 0],
    "f": [0.5, None, 2.0, -1.25, 1e-4, 3.0],
    "s": ["cat", "dog", None, "", "o'k", "catalog"],
    "b": [True, False, None, True, None, False],
}
FRAME = pl.DataFrame(ROWS, schema={"a": pl.Int64, "f": pl.Float64, "s": pl.String, "b": pl.Boolean})

# An expression: (text, function of a row -> True / False / None)
Node = tuple[str, Any]


def _cmp(x: Any, op: str, y: Any) -> bool | None:
    if x is None or y is None:
        return None
    return {"=": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _lit(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


OPS = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
VALUES = {
    "a": st.integers(-4, 4),
    "f": st.sampled_from([0.5, -1.25, 2.0, 0.0, 3, 1e-4]),
    "s": st.sampled_from(["cat", "dog", "", "o'k", "z"]),
}


@st.composite
def comparison(draw: Any) -> Node:
    col = draw(st.sampled_from(["a", "f", "s", "b"]))
    form = draw(st.sampled_from(["cmp", "flip", "null", "in", "contains", "bare"]))
    if col == "b":
        if form == "null":
            neg = draw(st.booleans())
            return (f"b is {'not ' if neg else ''}null", lambda r: (r["b"] is None) != neg)
        if form == "bare":
            return ("b", lambda r: r["b"])
        v = draw(st.booleans())
        op = draw(st.sampled_from(["=", "!="]))
        return (f"b {op} {_lit(v)}", lambda r: _cmp(r["b"], op, v))
    if form == "null":
        neg = draw(st.booleans())
        return (f"{col} IS {'NOT ' if neg else ''}NULL", lambda r: (r[col] is None) != neg)
    if form == "contains" and col == "s":
        v = draw(st.sampled_from(["at", "o", "", "'"]))
        neg = draw(st.booleans())

        def contains(r: Any) -> bool | None:
            if r["s"] is None:
                return None
            return (v in r["s"]) != neg

        return (f"s {'!~' if neg else '~'} {_lit(v)}", contains)
    if form == "in":
        values = draw(st.lists(VALUES[col], min_size=1, max_size=3))
        with_null = draw(st.booleans())
        neg = draw(st.booleans())
        items = [_lit(v) for v in values] + (["null"] if with_null else [])

        def member(r: Any) -> bool | None:
            x = r[col]
            found = (True if with_null else None) if x is None else x in values
            return None if found is None else found != neg

        return (f"{col} {'not in' if neg else 'in'} ({', '.join(items)})", member)
    v = draw(VALUES[col])
    op = draw(OPS)
    if form == "flip":  # literal on the left
        flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        return (f"{_lit(v)} {op} {col}", lambda r: _cmp(r[col], flipped, v))
    return (f"{col} {op} {_lit(v)}", lambda r: _cmp(r[col], op, v))


def _and(x: bool | None, y: bool | None) -> bool | None:
    if x is False or y is False:
        return False
    return None if x is None or y is None else True


def _or(x: bool | None, y: bool | None) -> bool | None:
    if x is True or y is True:
        return True
    return None if x is None or y is None else False


def combine(children: Any) -> Any:
    def build(draw: Any) -> Node:
        kind = draw(st.sampled_from(["and", "or", "not"]))
        if kind == "not":
            text, fn = draw(children)
            return (f"not ({text})", lambda r: None if fn(r) is None else not fn(r))
        (t1, f1), (t2, f2) = draw(children), draw(children)
        word = draw(st.sampled_from([kind, kind.upper()]))
        join = _and if kind == "and" else _or
        return (f"({t1}) {word} ({t2})", lambda r: join(f1(r), f2(r)))

    return st.composite(build)()


EXPRS = st.recursive(comparison(), combine, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(EXPRS)
def test_filters_match_a_reference_evaluator(node: Node) -> None:
    text, fn = node
    expr = parse_filter(text, FRAME.schema)
    assert expr is not None
    got = FRAME.with_row_index("i").filter(expr).get_column("i").to_list()
    rows = [dict(zip(ROWS, vals, strict=True)) for vals in zip(*ROWS.values(), strict=True)]
    want = [i for i, row in enumerate(rows) if fn(row) is True]
    assert got == want, text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abfs()'\"`=<>!~ ,.-0123456789eniotrulANDOR_")),
               max_size=40))  # fmt: skip
def test_any_text_parses_or_is_refused_with_a_filter_error(text: str) -> None:
    try:
        expr = parse_filter(text, FRAME.schema)
    except FilterError as e:
        assert str(e).startswith("filter:")
        return
    if expr is not None:
        FRAME.filter(expr)  # whatever parses also runs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a >", "position 4"),
        ("zz = 1", "no column 'zz'"),
        ("a = 'x'", "compare it with a number"),
        ("s = 1", "compare it with 'text'"),
        ("a", "expected a comparison"),
        ("__import__('os').system('x')", "unexpected '.' at position 17"),
        ("__import__ = 1", "no column '__import__'"),
        ("a = 1; drop", "unexpected ';'"),
        ("(" * 100 + "a = 1" + ")" * 100, "deeper than"),
        ("a in ()", "expected a column, a number"),
        ("s ~ 1", "'~' takes a column"),
        ("a = 1 or", "position 9"),
        ("x" * 5000, "longer than"),
    ],
)
def test_refusals_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(")):
        parse_filter(text, FRAME.schema)


def test_struct_fields_dates_and_quoted_names() -> None:
    import datetime as dt

    frame = pl.DataFrame(
        {
            "img": [{"caption": "a cat"}, {"caption": None}, None],
            "when": [dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)],
            "my col": [1, 2, 3],
            "config.lr": [3e-4, 1e-3, None],
        }
    )

    def rows(text: str) -> int:
        expr = parse_filter(text, frame.schema)
        assert expr is not None
        return frame.filter(expr).height

    assert rows("img.caption ~ 'cat'") == 1
    assert rows("when >= '2026-01-02'") == 2
    assert rows("`my col` != 2") == 2
    assert rows("config.lr = 3e-4") == 1
    assert rows("config.lr = null") == 1
    assert parse_filter("   ", frame.schema) is None
    with pytest.raises(FilterError, match="no field 'nope'"):
        parse_filter("img.nope = 1", frame.schema)
    with pytest.raises(FilterError, match="not an ISO date"):
        parse_filter("when > 'soon'", frame.schema)


def test_run_json_read_leniently() -> None:
    """Today's run.json (config only), tomorrow's (summary, tags, ...) and broken ones."""
    today = {"format_version": 1, "run_id": "r1", "name": "n", "config": {"lr": 0.1},
             "status": "finished", "created": 1.0, "updated": 2.0, "last_step": 3}  # fmt: skip
    newer = {**today, "run_id": "r2", "summary": {"loss": 0.5, "m": {"x": 1}},
             "tags": ["a", 3, "b"], "group": "g", "job_type": "train", "notes": "hi",
             "unknown": [1]}  # fmt: skip
    r1 = run_info("r1", json.dumps(today).encode())
    r2 = run_info("r2", json.dumps(newer).encode())
    assert (r1.config, r1.summary, r1.tags, r1.last_step) == ({"lr": 0.1}, {}, (), 3)
    assert r2.summary == {"loss": 0.5, "m": {"x": 1}} and r2.tags == ("a", "b")
    assert (r2.group, r2.job_type, r2.notes) == ("g", "train", "hi")
    broken = run_info("r3", b"{not json")
    assert broken.status == "unreadable run.json" and broken.config == {}
    odd = run_info("r4", json.dumps({"config": [1], "summary": "x", "last_step": True}).encode())
    assert (odd.config, odd.summary, odd.last_step) == ({}, {}, None)
    assert run_info("r5", None).run_id == "r5"
    frame = runs_frame([r1, r2, broken])
    assert frame.get_column("config.lr").to_list() == [0.1, 0.1, None]
    assert frame.get_column("summary.m.x").to_list() == [None, 1, None]
    assert frame.get_column("tags").to_list() == [None, "a, b", None]
    mixed = runs_frame(
        [run_info("x", b'{"config": {"v": 1}}'), run_info("y", b'{"config": {"v": "s"}}')]
    )
    assert mixed.get_column("config.v").to_list() == ["1", "s"]


def test_charts_thin_and_escape() -> None:
    n = 100_000
    xs = list(range(n))
    ys: list[float | None] = [math.sin(i / 1000) for i in xs]
    ys[50_000] = 50.0  # a spike survives thinning
    ys[60_000] = None
    pts = thin(xs, ys)
    assert len(pts) <= MAX_POINTS and max(y for _, y in pts if y is not None) == 50.0
    svg = line_chart("<loss>", [Series("<b>run</b>", xs, ys), Series("r2", [0, 1], [1.0, 2.0])])
    assert "&lt;loss&gt;" in svg and "<b>" not in svg and svg.count("<polyline") >= 2
    assert "no values" in line_chart("x", [Series("r", [0], [float("nan")])])


BIG = pl.concat([FRAME] * 40).with_row_index("n")


@settings(max_examples=200, deadline=None)
@given(
    node=st.one_of(st.none(), EXPRS),
    sort=st.sampled_from(["", "a", "-a", "s", "-f", "n"]),
    page=st.integers(1, 30),
    size=st.sampled_from([1, 7, 50]),
    cached=st.booleans(),
)
def test_a_page_is_the_slice_of_the_filtered_sorted_frame(
    node: Node | None, sort: str, page: int, size: int, cached: bool
) -> None:
    """Also through the cache of page chunks and filter matches (the key names BIG)."""
    from tablelog.ui.pages import page_of

    text = "" if node is None else node[0]
    key = ("BIG",) if cached else None
    got = page_of(BIG.lazy(), q=text, sort=sort, page=page, size=size, cache_key=key)
    assert got.error is None
    want = BIG
    if node is not None:
        expr = parse_filter(text, BIG.schema)
        assert expr is not None
        want = want.filter(expr)
    total = want.height
    if sort:
        want = want.sort(sort.lstrip("-"), descending=sort.startswith("-"), nulls_last=True,
                         maintain_order=True)  # fmt: skip
    assert got.total == total
    assert got.frame.equals(want.slice((page - 1) * size, size))
