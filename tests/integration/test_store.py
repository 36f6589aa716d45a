"""Stores beyond the contract (the contract itself: test_store_conformance.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tablelog.objects import open_store


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
