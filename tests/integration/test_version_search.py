"""Finding a table's newest version on every store: right for any number of versions,
while the table grows, and after it was deleted and written again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tablelog.format.chain import FIRST_LIST, STATES, TableRef, latest_version
from tablelog.objects import open_store


def _ref(make_root: Any, kind: str) -> TableRef:
    where = make_root(kind)
    return TableRef(open_store(where.root, storage_options=where.storage_options), "p", "r", "k")


def _write(ref: TableRef, versions: range) -> None:
    """Placeholder manifests: the search only looks at which names exist."""
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda v: ref.store.put(ref.version_key(v), b"{}"), versions))


KINDS = ["local", pytest.param("moto", marks=pytest.mark.s3),
         pytest.param("seaweedfs", marks=pytest.mark.s3)]  # fmt: skip
# Writing 2,000 placeholder versions to moto (pure Python) takes about a minute: those
# tests run on moto only in CI's full-scale pass.
HEAVY_KINDS = ["local", pytest.param("moto", marks=[pytest.mark.s3, pytest.mark.full_scale_only]),
               pytest.param("seaweedfs", marks=pytest.mark.s3)]  # fmt: skip


@pytest.mark.parametrize("kind", HEAVY_KINDS)
def test_newest_of_any_number_of_versions(make_root: Any, kind: str) -> None:
    ref = _ref(make_root, kind)
    written = 0
    for n in sorted({0, 1, 100, FIRST_LIST - 1, FIRST_LIST, FIRST_LIST + 1, 1000, 2100}):
        _write(ref, range(written, n))
        written = max(written, n)
        STATES.clear()  # cold, as a new process
        assert latest_version(ref) == n - 1, n
        assert latest_version(ref) == n - 1, n  # from the remembered newest version
        assert latest_version(ref, hint=n // 2 if n else -1) == n - 1, n


@pytest.mark.parametrize("kind", KINDS)
def test_a_remembered_newest_version_that_is_gone_is_not_trusted(make_root: Any, kind: str) -> None:
    ref = _ref(make_root, kind)
    _write(ref, range(300))
    STATES.clear()
    assert latest_version(ref) == 299
    for v in range(300):  # the table deleted, then written again, shorter
        ref.store.delete(ref.version_key(v))
    _write(ref, range(40))
    assert latest_version(ref) == 39
    for v in range(40):
        ref.store.delete(ref.version_key(v))
    assert latest_version(ref) == -1


@pytest.mark.parametrize("kind", HEAVY_KINDS)
def test_newest_while_the_table_grows(make_root: Any, kind: str) -> None:
    ref = _ref(make_root, kind)
    _write(ref, range(500))
    stop = threading.Event()
    top = [499]

    def grow() -> None:
        v = 500
        while not stop.is_set() and v < 1500:
            ref.store.put(ref.version_key(v), b"{}")
            top[0] = v
            v += 1

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        for i in range(10):
            if i % 2:
                STATES.clear()  # cold; otherwise from the newest version seen last time
            before = top[0]
            found = latest_version(ref)
            assert before <= found <= top[0] + 1  # (+1: a write landing as we look)
    finally:
        stop.set()
        writer.join()


class _IgnoresStartAfter:
    """A store whose LIST ignores StartAfter (some S3 look-alikes do)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.url = inner, inner.url

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_page(self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000):  # type: ignore[no-untyped-def]
        return self.inner.list_page(prefix, max_keys=max_keys)


@pytest.mark.s3
def test_a_server_that_ignores_start_after_still_gives_the_newest(make_root: Any) -> None:
    ref = _ref(make_root, "seaweedfs")  # (moto: a minute to write 1,500 versions)
    _write(ref, range(1500))
    odd = TableRef(_IgnoresStartAfter(ref.store), "p", "r", "k")  # type: ignore[arg-type]
    STATES.clear()
    assert latest_version(odd) == 1499
    assert latest_version(odd) == 1499
