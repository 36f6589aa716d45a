"""The manifest codec is canonical and its parser strict."""

from __future__ import annotations

import json

import pytest

from tablelog import FormatError
from tablelog.format.manifest import (
    Change,
    Column,
    ColumnGroup,
    Fragment,
    Manifest,
    encode_manifest,
    parse_manifest,
)

D = "ab" * 32


def _manifest(**kw: object) -> Manifest:
    base: dict[str, object] = {
        "key": "eval",
        "version": 3,
        "parent": D,
        "mode": "INCREMENTAL",
        "step": 5,
        "time": 1.5,
        "writer": "w",
        "schema": (Column(name="a", kind="number", arrow="int64"),),
        "rows": 2,
        "fragments": 1,
        "change": Change(
            add=(
                Fragment(
                    id="3.0",
                    rows=2,
                    increment=3,
                    groups=(ColumnGroup(object=D, columns=("a",), size=10),),
                ),
            )
        ),
    }
    base.update(kw)
    return Manifest(**base)  # type: ignore[arg-type]


def test_round_trip_and_canonical() -> None:
    m = _manifest()
    data = encode_manifest(m)
    assert parse_manifest(data, where="x") == m
    assert encode_manifest(parse_manifest(data, where="x")) == data
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(format_version=99), "format version 99.*upgrade"),
        (lambda d: d.update(surprise=1), "unknown field"),
        (lambda d: d.pop("rows"), "missing field"),
        (lambda d: d.update(mode="APPEND"), "unknown mode"),
        (lambda d: d.update(parent="../../etc/passwd"), "SHA-256"),
        (lambda d: d.update(rows=-1), "integer >= 0"),
        (lambda d: d["change"]["add"][0]["groups"][0].update(object="x"), "SHA-256"),
        # Each of these must fail the quick path too and get the strict path's message.
        (lambda d: d["change"]["add"][0]["groups"][0].update(object="AB" * 32), "SHA-256"),
        (lambda d: d["change"]["add"][0]["groups"][0].update(size=True), "size: expected"),
        (lambda d: d["change"]["add"][0]["groups"][0].update(size=-3), "size: expected"),
        (lambda d: d["change"]["add"][0]["groups"][0].update(columns=[]), "at least one column"),
        (lambda d: d["change"]["add"][0]["groups"][0].update(columns=[1]), "columns: expected"),
        (lambda d: d["change"]["add"][0]["groups"][0].update(extra=1), "unknown field"),
        (lambda d: d["change"]["add"][0]["groups"][0].pop("size"), "missing field"),
        (lambda d: d["change"]["add"][0].update(groups=[]), "at least one column group"),
        (lambda d: d["change"]["add"][0].update(increment=1.5), "increment: expected"),
        (lambda d: d["change"]["add"][0].update(rows=False), "rows: expected"),
        (lambda d: d["change"]["add"][0].update(id=7), r"add\[0\]\.id: expected"),
    ],
)
def test_strict_parse(mutate: object, match: str) -> None:
    d = json.loads(encode_manifest(_manifest()))
    mutate(d)  # type: ignore[operator]
    with pytest.raises(FormatError, match=match):
        parse_manifest(json.dumps(d).encode(), where="s3://b/v.json")


def test_garbage_and_nan_are_refused() -> None:
    with pytest.raises(FormatError, match="not valid JSON"):
        parse_manifest(b"\x80not json", where="x")
    with pytest.raises(FormatError, match="NaN"):
        parse_manifest(b'{"format_version": NaN}', where="x")
    with pytest.raises(FormatError, match="limit"):
        parse_manifest(b" " * (17 * 1024 * 1024), where="x")
