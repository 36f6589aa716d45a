"""Format 2's manifest and segment codec (docs/format.md, "Format 2"): any valid model
round-trips through canonical bytes, and the readers' default still refuses it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tablelog import FormatError
from tablelog.format.manifest import (
    MAX_COMMIT_INCREMENTS,
    MODES,
    Change,
    Column,
    ColumnGroup,
    Fragment,
    Increment,
    Manifest,
    canonical_json,
    encode_manifest,
    encode_segment,
    manifest_to_json,
    parse_manifest,
    parse_segment,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UPGRADE = "format version 2, but this tablelog reads format version 1 at most: upgrade tablelog"

digests = st.text("0123456789abcdef", min_size=64, max_size=64)
names = st.text(min_size=1, max_size=8)
counts = st.integers(0, 2**63)
steps = st.none() | st.integers(0, 2**63)
times = st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=4e9)
groups = st.builds(
    ColumnGroup,
    object=digests,
    columns=st.lists(names, min_size=1, max_size=3).map(tuple),
    size=counts,
    media=st.lists(digests.map(lambda d: f"{d}.png"), max_size=2, unique=True).map(
        lambda m: tuple(sorted(m))
    ),
)


@st.composite
def fragments(draw: st.DrawFn, *, below: int | None) -> Fragment:
    """A format-2 fragment whose increments are all below ``below`` (None: any)."""
    top = 2**40 if below is None else below - 1
    first = draw(st.integers(0, top))
    return Fragment(
        id=draw(names),
        rows=draw(counts),
        increment=first,
        groups=tuple(draw(st.lists(groups, min_size=1, max_size=2))),
        last_increment=draw(st.integers(first, top)),
    )


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    """A format-2 manifest that keeps every rule one manifest can check."""
    mode = draw(st.sampled_from(MODES))
    separate = draw(st.booleans())
    one_per_log = mode != "INCREMENTAL" or separate
    n = draw(st.integers(0, 1 if one_per_log else MAX_COMMIT_INCREMENTS))
    start = draw(st.integers(0, 2**40))
    logged = tuple(
        Increment(
            number=start + i,
            step=draw(steps),
            time=draw(times),
            rows=draw(counts),
            log_id=draw(st.text("0123456789abcdef", min_size=32, max_size=32)),
        )
        for i in range(n)
    )
    count = start + n if n else draw(st.integers(0, 2**40))
    add = tuple(draw(st.lists(fragments(below=count), max_size=3))) if count else ()
    return Manifest(
        format_version=2,
        key=draw(names),
        version=draw(counts),
        parent=draw(st.none() | digests),
        mode=mode,
        step=logged[-1].step if logged else draw(steps),
        time=draw(times),
        writer=draw(names),
        schema=draw(
            st.none()
            | st.lists(
                st.builds(Column, name=names, kind=st.just("number"), arrow=st.just("int64")),
                max_size=3,
            ).map(tuple)
        ),
        rows=draw(counts),
        fragments=draw(counts),
        change=Change(
            replace=draw(st.booleans()),
            add=add,
            remove=tuple(draw(st.lists(names, max_size=2))),
            add_groups=tuple(draw(st.lists(st.tuples(names, groups), max_size=2))),
        ),
        separate=separate,
        extra=draw(st.dictionaries(names, names, max_size=2)),
        increments=logged,
        increment_count=count,
    )


@SETTINGS
@given(manifests())
def test_a_format_2_manifest_round_trips_canonically(m: Manifest) -> None:
    data = encode_manifest(m)
    parsed = parse_manifest(data, where="u", max_format=2)
    assert parsed == m
    assert encode_manifest(parsed) == data
    assert data == canonical_json(manifest_to_json(m))
    doc = manifest_to_json(m)
    assert doc["format_version"] == 2 and doc["increment_count"] == m.increment_count
    assert all(set(f) == {"id", "rows", "first", "last", "groups"} for f in doc["change"]["add"])


@SETTINGS
@given(manifests())
def test_a_reader_of_format_1_refuses_every_format_2_manifest(m: Manifest) -> None:
    with pytest.raises(FormatError, match=f"manifest u was written with {UPGRADE}"):
        parse_manifest(encode_manifest(m), where="u", max_format=1)


@SETTINGS
@given(st.lists(fragments(below=None), max_size=5).map(tuple))
def test_a_format_2_segment_round_trips_and_a_reader_of_format_1_refuses_it(
    frags: tuple[Fragment, ...],
) -> None:
    data = encode_segment(frags, format_version=2)
    assert parse_segment(data, where="u", max_format=2) == frags
    assert encode_segment(parse_segment(data, where="u", max_format=2), format_version=2) == data
    with pytest.raises(FormatError, match=f"checkpoint segment u was written with {UPGRADE}"):
        parse_segment(data, where="u", max_format=1)


@SETTINGS
@given(manifests())
def test_format_1_bytes_do_not_change(m: Manifest) -> None:
    # The same model without format 2's fields is a format-1 manifest: the bytes are
    # what format 1 always wrote, and max_format does not change how they parse.
    one = Manifest(
        **{
            **{f: getattr(m, f) for f in Manifest.__dataclass_fields__},
            "format_version": 1,
            "increments": None,
            "increment_count": None,
            "change": Change(
                replace=m.change.replace,
                add=tuple(_as_format_1(f) for f in m.change.add),
                remove=m.change.remove,
                add_groups=m.change.add_groups,
            ),
        }
    )
    data = encode_manifest(one)
    doc: dict[str, Any] = manifest_to_json(one)
    assert "increments" not in doc and "increment_count" not in doc
    assert all(set(f) == {"id", "rows", "increment", "groups"} for f in doc["change"]["add"])
    assert parse_manifest(data, where="u") == one == parse_manifest(data, where="u", max_format=2)
    frags = tuple(_as_format_1(f) for f in m.change.add)
    seg = encode_segment(frags)
    assert parse_segment(seg, where="u") == frags == parse_segment(seg, where="u", max_format=2)


def _as_format_1(f: Fragment) -> Fragment:
    return Fragment(id=f.id, rows=f.rows, increment=f.increment, groups=f.groups)
