"""Rules of the format written once (issue #16) and the table handle, on a memory store."""

from __future__ import annotations

import pytest

import tablelog
from tablelog import FormatError, NotFoundError
from tablelog.format.arrow_types import merged_type
from tablelog.format.handle import open_table
from tablelog.format.manifest import Change, ColumnGroup, Fragment
from tablelog.format.state import TableState, fragments_after, kept_fragments, tags_increments
from tablelog.objects.cas import check_digest, digest_of


def _frag(fid: str, rows: int = 1, increment: int = 0) -> Fragment:
    group = ColumnGroup(object="0" * 64, columns=("a",), size=1)
    return Fragment(id=fid, rows=rows, increment=increment, groups=(group,))


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ("int64", "int64", "int64"),
        ("null", "string", "string"),
        ("string", "null", "string"),
        ("int8", "double", "double"),
        ("uint64", "int64", "double"),
        ("int64", "string", None),
        ({"list": "int64"}, {"list": "double"}, None),
    ],
)
def test_merged_type(a: object, b: object, merged: object) -> None:
    assert merged_type(a, b) == merged


def test_fragments_after() -> None:
    parent = (_frag("0"), _frag("1"), _frag("2"))
    group = ColumnGroup(object="1" * 64, columns=("b",), size=1)
    change = Change(remove=("1",), add=(_frag("3"),), add_groups=(("2", group),))
    after = fragments_after(parent, change, where="t")
    assert [f.id for f in after] == ["0", "2", "3"]
    assert after[1].groups[-1] == group
    assert kept_fragments(parent, Change(replace=True)) == []
    with pytest.raises(FormatError, match="unknown fragment"):
        fragments_after(parent, Change(add_groups=(("9", group),)), where="t")


@pytest.mark.parametrize(
    ("mode", "separate", "key", "tagged"),
    [
        ("INCREMENTAL", False, "eval", True),
        ("INCREMENTAL", True, "eval", False),
        ("INCREMENTAL", False, "_history", False),
        ("MUTABLE", False, "eval", False),
    ],
)
def test_tags_increments(mode: str, separate: bool, key: str, tagged: bool) -> None:
    assert tags_increments(TableState(version=0, mode=mode, separate=separate), key) is tagged


def test_check_digest() -> None:
    assert check_digest(b"x", digest_of(b"x"), what="object o") == b"x"
    with pytest.raises(FormatError, match="object o is corrupt"):
        check_digest(b"y", digest_of(b"x"), what="object o")


def test_table_handle_resolves_versions_steps_and_increments() -> None:
    root = "memory://rules-handle"
    # (sync: each log is committed before the next, so each is a version of its own)
    with tablelog.init(project="p", id="r", root=root, sync=True) as run:
        table = tablelog.Table(columns=["a"], log_mode="INCREMENTAL")
        for step in range(3):
            table.add_data(step)
            run.log({"t": table}, step=step * 10)
    handle = open_table("p/r/t", root=root)
    assert handle.latest() == 2
    assert handle.resolve(version=-2) == 1
    assert handle.resolve(step=15) == 1
    state = handle.state(step=25)
    assert state.version == 2 and handle.tags_increments(state)
    frags, by_value = handle.increment_fragments(state, 1)
    assert [f.increment for f in frags] == [1] and not by_value
    assert handle.sharded() is None
    with pytest.raises(NotFoundError, match="no version 7"):
        handle.resolve(version=7)
    with pytest.raises(NotFoundError, match="its tables"):
        open_table("p/r/missing", root=root).latest()
