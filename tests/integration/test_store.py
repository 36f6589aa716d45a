"""Store conformance: every backend honours the same small contract."""

from __future__ import annotations

from typing import Any

import pytest

from tablelog import NotFoundError
from tablelog.objects import open_store


def test_store_contract(where: Any) -> None:
    store = open_store(where.root, storage_options=where.storage_options)
    assert store.supports_conditional_create
    assert not store.exists("a/b.bin")
    with pytest.raises(NotFoundError):
        store.get("a/b.bin")
    assert store.put_if_absent("a/b.bin", b"one") is True
    assert store.put_if_absent("a/b.bin", b"two") is False
    assert store.get("a/b.bin") == b"one"
    store.put("a/c.bin", b"x")
    store.put("a/c.bin", b"y")
    assert store.get_many(["a/b.bin", "a/c.bin"]) == [b"one", b"y"]
    assert sorted(store.list("a/")) == ["a/b.bin", "a/c.bin"]
    assert store.mtime("a/b.bin") > 0
    store.delete("a/b.bin")
    store.delete("a/b.bin")
    assert not store.exists("a/b.bin")
    assert list(store.list("nothing/")) == []


def test_ranged_and_optional_reads(where: Any) -> None:
    """``get_range`` and ``get_many_or_none`` (the latest-version hint's reads)."""
    store = open_store(where.root, storage_options=where.storage_options)
    store.put("r/a.bin", b"0123456789")
    assert store.get_range("r/a.bin", 0, 4) == b"0123"
    assert store.get_range("r/a.bin", 3, 6) == b"345"
    assert store.get_range("r/a.bin", 0, 64) == b"0123456789"  # shorter than asked
    assert store.get_range("r/a.bin", 5, 5) == b""
    with pytest.raises(NotFoundError):
        store.get_range("r/missing.bin", 0, 4)
    assert store.get_many_or_none(["r/a.bin", "r/missing.bin"]) == [b"0123456789", None]
    assert store.get_many_or_none(["r/missing.bin"]) == [None]
    assert store.get_many_or_none(["r/a.bin"]) == [b"0123456789"]
    assert store.get_many_or_none([]) == []
    assert store.remote == (where.kind not in ("local", "memory"))


def test_unknown_protocol_is_a_clear_error() -> None:
    from tablelog import StoreError

    with pytest.raises(StoreError, match="unknown protocol 'nosuch'"):
        open_store("nosuch://bucket/x")


def test_local_writes_leave_no_temp_files_and_recreate_removed_folders(tmp_path: Any) -> None:
    import shutil

    store = open_store(str(tmp_path))
    assert store.put_if_absent("x/y/z.bin", b"1")
    shutil.rmtree(tmp_path / "x")  # e.g. emptied by hand between two writes
    assert store.put_if_absent("x/y/z.bin", b"2")
    store.put("x/y/w.bin", b"3")
    assert store.get("x/y/z.bin") == b"2"
    assert [p.name for p in tmp_path.rglob(".tmp-*")] == []
