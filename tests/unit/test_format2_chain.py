"""The chain rules of format 2 (docs/format.md, "Parsing format 2"): applying a manifest
to its parent's state checks the increment numbers, never mixes formats, and a
checkpoint's segments and fragments are of its format and within its increments."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from tablelog import FormatError
from tablelog.errors import NewerFormatError
from tablelog.format.manifest import (
    Change,
    Column,
    ColumnGroup,
    Fragment,
    Increment,
    Manifest,
    SegmentRef,
    encode_manifest,
    encode_segment,
    parse_manifest,
    parse_segment,
)
from tablelog.format.state import TableState, apply_manifest, state_from_checkpoint
from tablelog.objects.cas import digest_of

D = "ab" * 32
SCHEMA = (Column(name="a", kind="number", arrow="int64"),)
GROUP = ColumnGroup(object=D, columns=("a",), size=10)


def _frag(fid: str, first: int, last: int | None, rows: int = 2) -> Fragment:
    return Fragment(id=fid, rows=rows, increment=first, last_increment=last, groups=(GROUP,))


def _manifest(version: int, parent: TableState, **kw: Any) -> Manifest:
    """A format-2 INCREMENTAL manifest on ``parent`` adding increments ``numbers`` (one
    fragment of 2 rows each), as the chain expects unless ``kw`` says otherwise."""
    numbers: list[int] = kw.pop("numbers")
    add = tuple(_frag(f"{version}.{i}", n, n) for i, n in enumerate(numbers))
    base: dict[str, Any] = {
        "format_version": 2,
        "key": "eval",
        "version": version,
        "parent": parent.digest,
        "mode": "INCREMENTAL",
        "step": numbers[-1] if numbers else parent.step,
        "time": 1.5,
        "writer": "w",
        "schema": SCHEMA,
        "rows": parent.rows + 2 * len(numbers),
        "fragments": len(parent.fragments) + len(numbers),
        "change": Change(add=add),
        "increments": tuple(
            Increment(number=n, step=n, time=1.0, rows=2, log_id=f"{n:032x}") for n in numbers
        ),
        "increment_count": numbers[-1] + 1 if numbers else parent.increment_count,
    }
    base.update(kw)
    return Manifest(**base)


def _apply(state: TableState, m: Manifest) -> TableState:
    """Encode, parse as format 2 and apply, as a format-2 reader will."""
    data = encode_manifest(m)
    return apply_manifest(
        state, parse_manifest(data, where="u", max_format=2), digest_of(data), where="u"
    )


def _format1(version: int, parent: TableState) -> Manifest:
    return Manifest(
        key="eval",
        version=version,
        parent=parent.digest,
        mode="INCREMENTAL",
        step=version,
        time=1.0,
        writer="w",
        schema=SCHEMA,
        rows=parent.rows + 2,
        fragments=len(parent.fragments) + 1,
        change=Change(add=(_frag(f"{version}.0", version, None),)),
    )


def test_a_format_2_chain_counts_its_increments_from_0() -> None:
    empty = TableState()
    assert empty.format_version is None and empty.increment_count is None
    s0 = _apply(empty, _manifest(0, empty, numbers=[0, 1, 2]))
    assert (s0.format_version, s0.increment_count, s0.rows) == (2, 3, 6)
    s1 = _apply(s0, _manifest(1, s0, numbers=[3]))
    assert (s1.increment_count, s1.rows, len(s1.fragments)) == (4, 8, 4)
    # a commit with no increments (a compaction) keeps the count
    s2 = _apply(s1, _manifest(2, s1, numbers=[], change=Change(), rows=8, fragments=4))
    assert s2.increment_count == 4
    assert _apply(s2, _manifest(3, s2, numbers=[4, 5])).increment_count == 6


def test_a_format_1_chain_has_no_increment_count() -> None:
    s0 = _apply(TableState(), _format1(0, TableState()))
    assert (s0.format_version, s0.increment_count) == (1, None)


@pytest.mark.parametrize("numbers", [[1, 2], [0]], ids=["version 0 not from 0", "a number again"])
def test_increments_must_follow_the_parents_count(numbers: list[int]) -> None:
    empty = TableState()
    parent = empty if numbers[0] else _apply(empty, _manifest(0, empty, numbers=[0]))
    version = parent.version + 1
    before = parent.increment_count or 0
    m = _manifest(version, parent, numbers=numbers)
    with pytest.raises(FormatError) as e:
        _apply(parent, m)
    assert str(e.value) == (
        f"u: version {version} adds increments {numbers}…, but the table has {before} "
        f"increments before it (numbers {before}, {before + 1}, … were due): the chain is "
        "broken or was tampered with"
    )


def test_a_commit_without_increments_repeats_the_parents_count() -> None:
    s0 = _apply(TableState(), _manifest(0, TableState(), numbers=[0, 1]))
    m = _manifest(1, s0, numbers=[], change=Change(), rows=4, fragments=2, increment_count=5)
    with pytest.raises(FormatError) as e:
        _apply(s0, m)  # the parser cannot see this: only the chain knows the count
    assert str(e.value) == "u: version 1 says increment_count 5, the chain gives 2 + 0 = 2"


def test_a_chain_never_changes_format() -> None:
    f1 = _apply(TableState(), _format1(0, TableState()))
    with pytest.raises(FormatError) as e:
        _apply(f1, _manifest(1, f1, numbers=[0]))
    assert str(e.value) == (
        "u: version 1 is format 2 but its parent, version 0, is format 1: a chain never "
        "changes format (the chain is broken or was tampered with)"
    )
    f2 = _apply(TableState(), _manifest(0, TableState(), numbers=[0]))
    with pytest.raises(FormatError) as e:
        _apply(f2, _format1(1, f2))
    assert str(e.value) == (
        "u: version 1 is format 1 but its parent, version 0, is format 2: a chain never "
        "changes format (the chain is broken or was tampered with)"
    )


def test_fragments_in_memory_are_checked_as_parsed_ones_are() -> None:
    """The committer applies the manifest it planned without parsing it: the chain
    checks what the parser would have."""
    empty = TableState()
    m = _manifest(0, empty, numbers=[0, 1])
    past = dataclasses.replace(m, change=Change(add=(_frag("0.0", 0, 2, rows=4),)), fragments=1)
    with pytest.raises(FormatError) as e:
        apply_manifest(empty, past, D, where="u")
    assert str(e.value) == (
        "u: fragment 0.0 that version 0 it adds holds increments 0..2, but the table has 2 "
        "increments"
    )
    one = dataclasses.replace(m, change=Change(add=(_frag("0.0", 0, None, rows=4),)), fragments=1)
    with pytest.raises(FormatError, match=r"^u: fragment 0\.0 that version 0 it adds is not of "):
        apply_manifest(empty, one, D, where="u")
    two = dataclasses.replace(_format1(0, empty), change=Change(add=(_frag("0.0", 0, 0),)))
    with pytest.raises(FormatError, match=r"is not of the version's format 1$"):
        apply_manifest(empty, two, D, where="u")
    half = dataclasses.replace(m, increments=None)
    with pytest.raises(FormatError, match=r"^u: format-2 version 0 lists no increments$"):
        apply_manifest(empty, half, D, where="u")


def _checkpoint(fragments: tuple[Fragment, ...], count: int | None) -> Manifest:
    return Manifest(
        format_version=1 if count is None else 2,
        key="eval",
        version=32,
        parent=D,
        mode="INCREMENTAL",
        step=None,
        time=1.0,
        writer="w",
        schema=SCHEMA,
        rows=sum(f.rows for f in fragments),
        fragments=len(fragments),
        change=Change(),
        checkpoint=(SegmentRef(object=D, fragments=len(fragments)),),
        increments=None if count is None else (),
        increment_count=count,
    )


def test_a_checkpoint_state_carries_the_count_and_checks_its_fragments() -> None:
    frags = (_frag("0.0", 0, 3), _frag("1.0", 4, 4))
    state = state_from_checkpoint(_checkpoint(frags, 5), D, frags, where="u")
    assert (state.format_version, state.increment_count, state.rows) == (2, 5, 4)
    with pytest.raises(FormatError) as e:
        state_from_checkpoint(_checkpoint(frags, 4), D, frags, where="u")
    assert str(e.value) == (
        "u: fragment 1.0 that version 32 its segments list holds increments 4..4, but the "
        "table has 4 increments"
    )
    old = (_frag("0.0", 0, None),)
    with pytest.raises(FormatError, match=r"is not of the version's format 2$"):
        state_from_checkpoint(_checkpoint(old, 5), D, old, where="u")
    with pytest.raises(FormatError, match=r"is not of the version's format 1$"):
        state_from_checkpoint(_checkpoint(frags, None), D, frags, where="u")
    assert state_from_checkpoint(_checkpoint(old, None), D, old, where="u").increment_count is None


@pytest.mark.parametrize(("segment", "manifest"), [(1, 2), (2, 1)])
def test_a_checkpoint_segment_is_of_its_manifests_format(segment: int, manifest: int) -> None:
    frags = (_frag("0.0", 0, 0 if segment == 2 else None),)
    data = encode_segment(frags, format_version=segment)
    assert parse_segment(data, where="s", max_format=2, format_version=segment) == frags
    with pytest.raises(FormatError) as e:
        parse_segment(data, where="s", max_format=2, format_version=manifest)
    assert str(e.value) == (
        f"checkpoint segment s is format {segment}, but the checkpoint that lists it is "
        f"format {manifest}: a checkpoint's segments are of its format"
    )


def test_a_reader_of_format_1_says_upgrade_for_a_format_2_segment() -> None:
    data = encode_segment((_frag("0.0", 0, 0),), format_version=2)
    with pytest.raises(NewerFormatError, match=re.escape("upgrade tablelog")):
        parse_segment(data, where="s", max_format=1)


def test_a_format_2_segment_listed_by_a_format_1_checkpoint_is_damage() -> None:
    data = encode_segment((_frag("0.0", 0, 0),), format_version=2)
    with pytest.raises(FormatError, match="a checkpoint's segments are of its format"):
        parse_segment(data, where="s", format_version=1)


def test_a_format_1_manifest_with_increments_is_refused() -> None:
    m = dataclasses.replace(_format1(0, TableState()), increments=(), increment_count=0)
    with pytest.raises(FormatError, match=r"^u: a format-1 version 0 lists increments$"):
        apply_manifest(TableState(), m, D, where="u")
    frags = (_frag("0.0", 0, None),)
    with pytest.raises(FormatError, match=r"^u: a format-1 version 32 lists increments$"):
        state_from_checkpoint(
            dataclasses.replace(_checkpoint(frags, None), increments=(), increment_count=1),
            D,
            frags,
            where="u",
        )
    with pytest.raises(FormatError, match=r"^u: format-2 version 32 has no increment_count$"):
        state_from_checkpoint(
            dataclasses.replace(_checkpoint(frags, 1), increment_count=None), D, frags, where="u"
        )
