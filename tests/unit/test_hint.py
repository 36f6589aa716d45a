"""The latest-version hint's bytes (docs/format.md, "Latest-version hint"): what writers
encode, what readers take, and what they ignore."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tablelog.errors import ArgumentTypeError, InvalidArgumentError
from tablelog.format.hint import (
    MAX_HINT_BYTES,
    MAX_HINT_VERSION,
    encode_hint,
    parse_hint,
    write_hint,
)
from tablelog.objects.memory import MemoryStore

#: Manifest-like bytes: canonical JSON is UTF-8 text, quotes and backslashes included.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=300).map(
    lambda s: s.encode("utf-8")
)


@given(
    version=st.integers(0, MAX_HINT_VERSION),
    before=st.none() | texts,
    newest=st.none() | texts,
)
def test_copies_read_back_byte_for_byte(
    version: int, before: bytes | None, newest: bytes | None
) -> None:
    copies = {v: d for v, d in ((version - 1, before), (version, newest)) if d is not None}
    copies = {v: d for v, d in copies.items() if v >= 0}
    hint = parse_hint(encode_hint(version, copies))
    assert hint is not None and hint.version == version and dict(hint.copies) == copies


def test_the_plain_hint_is_unchanged() -> None:
    assert encode_hint(7) == encode_hint(7, {}) == b'{"version":7}'
    hint = parse_hint(b'{"version":7}')
    assert hint is not None and hint.version == 7 and not hint.copies


def test_a_writer_cannot_copy_other_versions() -> None:
    for copies in ({5: b"{}"}, {8: b"{}"}, {-1: b"{}"}):
        with pytest.raises(InvalidArgumentError, match="copies manifests"):
            encode_hint(7 if -1 not in copies else 0, copies)
    with pytest.raises(ArgumentTypeError):
        encode_hint(True)


@pytest.mark.parametrize(
    "data",
    [
        b'{"version":7,"manifests":{"5":"{}"}}',  # a copy of a version it does not name
        b'{"version":0,"manifests":{"-1":"{}"}}',
        b'{"version":7,"manifests":{"07":"{}"}}',  # not the canonical number
        b'{"version":7,"manifests":{"7":1}}',
        b'{"version":7,"manifests":["{}"]}',
        b'{"version":7,"manifests":{"7":"\\ud800"}}',  # a lone surrogate
        b'{"version":7,"copies":{}}',
        b'{"version":7,"manifests":{}}' + b" " * MAX_HINT_BYTES,
    ],
)
def test_anything_else_is_not_a_hint(data: bytes) -> None:
    assert parse_hint(data) is None


def test_copies_that_do_not_fit_are_left_out_older_first() -> None:
    store = MemoryStore("memory://hint")
    big = b'"' * (MAX_HINT_BYTES // 2)  # (each quote is escaped: twice its size)
    write_hint(store, "h", 9, {8: big, 9: b"{}"})
    hint = parse_hint(store.get("h"))
    assert hint is not None and dict(hint.copies) == {9: b"{}"}
    write_hint(store, "h", 9, {8: b"{}", 9: big + big})
    hint = parse_hint(store.get("h"))
    assert hint is not None and hint.version == 9 and not hint.copies
    write_hint(store, "h", 9, {8: b"{}", 9: b"[]"})
    hint = parse_hint(store.get("h"))
    assert hint is not None and dict(hint.copies) == {8: b"{}", 9: b"[]"}


def test_a_store_that_lists_only_keys_still_checks_hints_with_copies() -> None:
    """A Store declaring ordered listing with only ``list_page`` (no ETags): the hint's
    copies are never taken (no ETag matches), and the check still finds the version."""
    import dataclasses

    from tablelog.format.chain import STATES, TableRef, latest_version
    from tablelog.format.hint import encode_hint

    class Listing(MemoryStore):
        capabilities = dataclasses.replace(MemoryStore.capabilities, ordered_listing=True)

        def list_page(
            self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
        ) -> tuple[list[str], bool]:
            keys = sorted(k for k in self.list(prefix) if start_after is None or k > start_after)
            return keys[:max_keys], len(keys) > max_keys

    store = Listing("memory://listing")
    ref = TableRef(store, "p", "r", "t")
    for v in range(3):
        store.put(ref.version_key(v), b"{}")
    store.put(ref.hint_key, encode_hint(2, {1: b"{}", 2: b"{}"}))
    STATES.clear()
    assert latest_version(ref) == 2  # (the manifests do not parse: the search decides)
