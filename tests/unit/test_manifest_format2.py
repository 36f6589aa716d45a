"""Format 2's parser is as strict as format 1's, with the rules of increments
(docs/format.md, "Format 2"), and its encoder writes only what its format can say."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tablelog import FormatError
from tablelog.errors import InvalidArgumentError
from tablelog.format.manifest import (
    MAX_COMMIT_INCREMENTS,
    Change,
    ColumnGroup,
    Fragment,
    Increment,
    Manifest,
    encode_manifest,
    encode_segment,
    parse_manifest,
    parse_segment,
)

D = "ab" * 32
LOG = "c" * 32


def _increment(number: int, step: int | None = 7) -> Increment:
    return Increment(number=number, step=step, time=2.5, rows=1, log_id=LOG)


def _manifest(**kw: Any) -> Manifest:
    base: dict[str, Any] = {
        "format_version": 2,
        "key": "eval",
        "version": 3,
        "parent": D,
        "mode": "INCREMENTAL",
        "step": 7,
        "time": 1.5,
        "writer": "w",
        "schema": None,
        "rows": 4,
        "fragments": 2,
        "change": Change(
            add=(
                Fragment(
                    id="3.0",
                    rows=3,
                    increment=4,
                    last_increment=6,
                    groups=(ColumnGroup(object=D, columns=("a", "_increment"), size=10),),
                ),
                Fragment(
                    id="3.1",
                    rows=1,
                    increment=7,
                    last_increment=7,
                    groups=(ColumnGroup(object=D, columns=("a",), size=10),),
                ),
            )
        ),
        "increments": tuple(_increment(n) for n in range(4, 8)),
        "increment_count": 8,
    }
    base.update(kw)
    return Manifest(**base)


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(encode_manifest(_manifest()))
    return doc


def test_the_base_case_parses_and_round_trips() -> None:
    m = _manifest()
    assert parse_manifest(encode_manifest(m), where="u", max_format=2) == m


MUTATIONS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("no increments", lambda d: d.pop("increments"), r"missing field\(s\) \['increments'\]"),
    ("no count", lambda d: d.pop("increment_count"), r"missing field\(s\) \['increment_count'\]"),
    (
        "a gap",
        lambda d: d["increments"][2].update(number=9),
        r"increment numbers \[4, 5, 9, 7\] are not consecutive",
    ),
    (
        "count too high",
        lambda d: d.update(increment_count=9),
        "increment_count 9 is not the last increment 7 \\+ 1",
    ),
    ("count not an int", lambda d: d.update(increment_count="8"), "increment_count: expected"),
    ("step", lambda d: d.update(step=8), "step 8 is not its last increment's step 7"),
    (
        "MUTABLE with two",
        lambda d: d.update(mode="MUTABLE"),
        "a MUTABLE version holds one increment, not 4",
    ),
    (
        "separate with two",
        lambda d: d.update(separate=True),
        "a separate INCREMENTAL version holds one increment, not 4",
    ),
    (
        "fragment past the count",
        lambda d: d["change"]["add"][1].update(last=8),
        "fragment 3.1 holds increment 8, but the table has 8 increments",
    ),
    (
        "last before first",
        lambda d: d["change"]["add"][0].update(last=3),
        "increments 4..3: last is before first",
    ),
    (
        "a format-1 fragment",
        lambda d: d["change"]["add"][0].update(increment=4),
        r"unknown field\(s\) \['increment'\]",
    ),
    ("no last", lambda d: d["change"]["add"][0].pop("last"), r"missing field\(s\) \['last'\]"),
    (
        "log id",
        lambda d: d["increments"][0].update(log_id="C" * 32),
        "log_id must be 32 lowercase hex digits",
    ),
    ("increment rows", lambda d: d["increments"][0].update(rows=-1), r"rows: expected"),
    ("increment step", lambda d: d["increments"][0].update(step=True), r"step: expected"),
    ("increment time", lambda d: d["increments"][0].update(time="now"), "time must be a number"),
    ("increment field", lambda d: d["increments"][0].update(size=1), r"unknown field"),
    ("increments a dict", lambda d: d.update(increments={}), "expected a list"),
    (
        "too many",
        lambda d: d.update(
            increments=[
                dict(d["increments"][0], number=n) for n in range(MAX_COMMIT_INCREMENTS + 1)
            ],
            increment_count=MAX_COMMIT_INCREMENTS + 1,
            step=7,
        ),
        f"{MAX_COMMIT_INCREMENTS + 1} increments, more than {MAX_COMMIT_INCREMENTS}",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "match"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_strict_format_2_parse(
    name: str, mutate: Callable[[dict[str, Any]], object], match: str
) -> None:
    d = _doc()
    mutate(d)
    with pytest.raises(FormatError, match=match):
        parse_manifest(json.dumps(d).encode(), where="s3://b/v.json", max_format=2)


def test_one_increment_per_version_for_every_mode_without_coalescing() -> None:
    for mode, separate in (("MUTABLE", False), ("IMMUTABLE", False), ("INCREMENTAL", True)):
        m = _manifest(
            mode=mode,
            separate=separate,
            increments=(_increment(7),),
            change=Change(add=_manifest().change.add[1:]),
        )
        assert parse_manifest(encode_manifest(m), where="u", max_format=2) == m
    # A commit that is not a log (a compaction) adds none and keeps the count.
    m = _manifest(increments=(), step=None, change=Change(replace=True))
    assert parse_manifest(encode_manifest(m), where="u", max_format=2) == m


def test_format_1_fields_stay_unknown_in_format_1() -> None:
    d = _doc()
    d["format_version"] = 1
    for fragment in d["change"]["add"]:
        fragment["increment"] = fragment.pop("first")
        del fragment["last"]
    with pytest.raises(FormatError, match=r"unknown field.*increment_count.*increments"):
        parse_manifest(json.dumps(d).encode(), where="u", max_format=2)


def test_the_encoder_refuses_what_its_format_cannot_say() -> None:
    with pytest.raises(InvalidArgumentError, match="format 1 has no last increment"):
        encode_manifest(
            _manifest(format_version=1, increments=None, increment_count=None),
        )
    with pytest.raises(InvalidArgumentError, match="written in format 2 and only there"):
        encode_manifest(_manifest(format_version=1))
    with pytest.raises(InvalidArgumentError, match="written in format 2 and only there"):
        encode_manifest(_manifest(increments=None))
    with pytest.raises(InvalidArgumentError, match="format 2 needs its last increment"):
        frag = dataclasses.replace(_manifest().change.add[0], last_increment=None)
        encode_manifest(_manifest(change=Change(add=(frag,))))
    with pytest.raises(InvalidArgumentError, match="cannot encode format version 3"):
        encode_manifest(_manifest(format_version=3))
    with pytest.raises(InvalidArgumentError, match="format 1 has no last increment"):
        encode_segment(_manifest().change.add)
    with pytest.raises(InvalidArgumentError, match="cannot encode format version 3"):
        encode_segment((), format_version=3)


@pytest.mark.parametrize("max_format", [0, 3, True])
def test_max_format_is_a_format_this_code_knows(max_format: int) -> None:
    data = encode_manifest(_manifest())
    with pytest.raises(InvalidArgumentError, match=r"max_format is 1\.\.2"):
        parse_manifest(data, where="u", max_format=max_format)
    with pytest.raises(InvalidArgumentError, match=r"max_format is 1\.\.2"):
        parse_segment(encode_segment((), format_version=2), where="u", max_format=max_format)


GOLDEN = Path(__file__).parent.parent / "golden" / "format1" / "bucket"


def test_format_1_objects_encode_to_the_bytes_they_were_written_as() -> None:
    # Every manifest and segment of the format-1 golden bucket, parsed and encoded by
    # this code, is the same bytes (segments: the same JSON inside the gzip).
    manifests = sorted(GOLDEN.glob("projects/**/versions/*.json"))
    segments = sorted(GOLDEN.glob("objects/*/*.json.gz"))
    assert len(manifests) > 50 and segments
    for path in manifests:
        data = path.read_bytes()
        assert encode_manifest(parse_manifest(data, where=str(path))) == data, path
    for path in segments:
        frags = parse_segment(path.read_bytes(), where=str(path))
        assert gzip.decompress(encode_segment(frags)) == gzip.decompress(path.read_bytes()), path
