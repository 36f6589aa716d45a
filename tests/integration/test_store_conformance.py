"""Store conformance: every backend honours the same contract (objects/store.py).

One class of tests (as zarr's ``StoreTests``), run against every store: a local
folder, ``memory://``, fsspec's memory filesystem through ``FsspecStore`` (a backend
whose capabilities are mostly False), moto, SeaweedFS and LocalStack (skipped when it
is not running). A capability that is True must hold; one that is False must make its
method refuse clearly (``NotSupportedError``) or fall back as documented.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tablelog.errors import NotFoundError, NotSupportedError, UnsafeStoreError
from tablelog.objects import open_store
from tablelog.objects.fsspec_store import FsspecStore
from tablelog.objects.process import ProcessStore
from tablelog.objects.store import Capabilities, Store

_counter = itertools.count()

STORES = [
    "local",
    "memory",
    "fsspec-memory",
    pytest.param("moto", marks=pytest.mark.s3),
    pytest.param("seaweedfs", marks=pytest.mark.s3),
    pytest.param("localstack", marks=[pytest.mark.s3, pytest.mark.localstack]),
    # SeaweedFS through init(store_process=True)'s store: every call in a child process;
    # and the same store closed, its calls back in this process (after finish(), or
    # when the child is gone).
    pytest.param("seaweedfs-process", marks=pytest.mark.s3),
    pytest.param("seaweedfs-process-closed", marks=pytest.mark.s3),
]

#: What each store must declare (a change of these is a change of the contract).
EXPECTED = {
    "local": Capabilities(conditional_create=True, mtime=True),
    "memory": Capabilities(conditional_create=True, mtime=True),
    "fsspec-memory": Capabilities(conditional_create=False, mtime=True, parallel_uploads=True),
    **{
        s3: Capabilities(
            conditional_create=True,
            ordered_listing=True,
            parallel_heads=True,
            mtime=True,
            parallel_uploads=True,
        )
        for s3 in (
            "moto",
            "seaweedfs",
            "localstack",
            "seaweedfs-process",
            "seaweedfs-process-closed",
        )
    },
}


class TestStoreConformance:
    """The contract of :class:`tablelog.objects.store.Store`, for each backend."""

    @pytest.fixture(params=STORES)
    def store(
        self, request: pytest.FixtureRequest, make_root: Callable[[str], Any]
    ) -> Iterator[Store]:
        self.kind = request.param
        if self.kind == "fsspec-memory":
            yield FsspecStore(f"memory://conformance-{next(_counter)}")
            return
        where = make_root(self.kind.split("-")[0])
        store = open_store(where.root, storage_options=where.storage_options)
        if "-process" in self.kind:
            assert isinstance(store, FsspecStore)
            store = ProcessStore(store)
            if self.kind.endswith("-closed"):
                store.close()
        yield store
        store.close()

    # -- capabilities ----------------------------------------------------------

    def test_capabilities_are_declared_and_frozen(self, store: Store) -> None:
        caps = store.capabilities
        assert isinstance(caps, Capabilities) and caps == EXPECTED[self.kind]
        with pytest.raises(dataclasses.FrozenInstanceError):
            caps.mtime = not caps.mtime  # type: ignore[misc]
        assert store.supports_conditional_create is caps.conditional_create
        assert store.parallel_uploads is caps.parallel_uploads

    # -- get / put ---------------------------------------------------------------

    def test_get_of_a_missing_key_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.get("a/missing.bin")
        with pytest.raises(FileNotFoundError):  # plain except clauses work too
            store.get("a/missing.bin")

    def test_put_replaces_and_get_returns_the_bytes(self, store: Store) -> None:
        store.put("a/c.bin", b"x")
        store.put("a/c.bin", b"y" * 100_000)
        assert store.get("a/c.bin") == b"y" * 100_000
        store.put("a/empty.bin", b"")
        assert store.get("a/empty.bin") == b""

    def test_get_many_keeps_the_order_and_refuses_a_missing_key(self, store: Store) -> None:
        for i in range(5):
            store.put(f"m/{i}.bin", bytes([i]))
        keys = [f"m/{i}.bin" for i in (3, 0, 4, 1)]
        assert store.get_many(keys) == [bytes([i]) for i in (3, 0, 4, 1)]
        assert store.get_many([]) == []
        with pytest.raises(NotFoundError):
            store.get_many(["m/0.bin", "m/missing.bin"])

    def test_ranged_and_optional_reads(self, store: Store) -> None:
        """``get_range`` and ``get_many_or_none`` (the latest-version hint's reads)."""
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
        assert store.remote == (self.kind not in ("local", "memory"))

    # -- put_if_absent -------------------------------------------------------------

    def test_put_if_absent_creates_once(self, store: Store) -> None:
        assert store.put_if_absent("a/b.bin", b"one") is True
        assert store.put_if_absent("a/b.bin", b"two") is False
        assert store.get("a/b.bin") == b"one"

    def test_put_if_absent_is_atomic_when_declared(self, store: Store) -> None:
        if not store.capabilities.conditional_create:
            # False: it checks, then writes, and committing refuses such a store.
            with pytest.raises(UnsafeStoreError, match="single_writer=True"):
                store.check_conditional_create()
            return
        store.check_conditional_create()  # (an S3 store proves it with a probe)
        racers = 8
        with ThreadPoolExecutor(racers) as pool:
            won = list(pool.map(lambda i: store.put_if_absent("race/k", b"%d" % i), range(racers)))
        assert won.count(True) == 1
        assert store.get("race/k") == b"%d" % won.index(True)

    # -- exists / exists_many ----------------------------------------------------

    def test_exists_and_exists_many(self, store: Store) -> None:
        assert not store.exists("e/0.bin")
        for i in range(0, 40, 3):
            store.put(f"e/{i}.bin", b".")
        keys = [f"e/{i}.bin" for i in range(40)]
        started = time.perf_counter()
        assert store.exists_many(keys) == [i % 3 == 0 for i in range(40)]
        assert time.perf_counter() - started < 30
        assert store.exists_many([]) == []
        assert store.exists("e/3.bin") and not store.exists("e/4.bin")

    # -- list / list_page ----------------------------------------------------------

    def test_list_is_recursive_below_the_prefix(self, store: Store) -> None:
        for key in ("l/a.bin", "l/x/b.bin", "l/x/y/c.bin", "lz/d.bin"):
            store.put(key, b".")
        assert sorted(store.list("l/")) == ["l/a.bin", "l/x/b.bin", "l/x/y/c.bin"]
        assert sorted(store.list("l/x/")) == ["l/x/b.bin", "l/x/y/c.bin"]
        assert list(store.list("nothing/")) == []

    def test_list_page_orders_and_starts_after_when_declared(self, store: Store) -> None:
        if not store.capabilities.ordered_listing:
            with pytest.raises(NotSupportedError, match="capabilities"):
                store.list_page("p/")
            return
        keys = [f"p/{i:04d}.json" for i in range(25)]
        for key in reversed(keys):
            store.put(key, b"{}")
        store.put("q/0000.json", b"{}")
        page, more = store.list_page("p/", max_keys=10)
        assert page == keys[:10] and more
        page, more = store.list_page("p/", start_after=keys[9], max_keys=10)
        assert page == keys[10:20] and more
        page, more = store.list_page("p/", start_after=keys[19], max_keys=10)
        assert page == keys[20:] and not more
        assert store.list_page("none/") == ([], False)

    def test_list_page_etags_lists_the_md5_of_each_plain_put(self, store: Store) -> None:
        """The ETags readers compare a hint's copies against (docs/format.md,
        "Latest-version hint"): on every S3 server the suite runs, a PUT's and a
        create-if-absent's ETag is the MD5 of the bytes (AWS says so for unencrypted
        and SSE-S3 objects; SSE-KMS differs, and readers then GET instead)."""
        if not store.capabilities.ordered_listing:
            with pytest.raises(NotSupportedError, match="capabilities"):
                store.list_page_etags("e/")
            return
        datas = {f"e/{i:04d}.json": b'{"i":%d}' % i for i in range(5)}
        for key, data in datas.items():
            if key.endswith("1.json"):
                assert store.put_if_absent(key, data)
            else:
                store.put(key, data)
        entries, more = store.list_page_etags("e/", start_after="e/0000.json", max_keys=3)
        assert more and [k for k, _ in entries] == ["e/0001.json", "e/0002.json", "e/0003.json"]
        for key, etag in entries:
            assert etag == hashlib.md5(datas[key], usedforsecurity=False).hexdigest(), key
        assert store.list_page("e/", start_after="e/0000.json", max_keys=3) == (
            [k for k, _ in entries],
            True,
        )

    # -- delete --------------------------------------------------------------------

    def test_delete_is_idempotent(self, store: Store) -> None:
        store.put("d/k.bin", b"1")
        store.delete("d/k.bin")
        store.delete("d/k.bin")
        store.delete("d/never.bin")
        assert not store.exists("d/k.bin")
        assert list(store.list("d/")) == []
        assert store.put_if_absent("d/k.bin", b"2") is True  # creatable again

    # -- mtime / stat --------------------------------------------------------------

    def test_mtime_and_stat_when_declared(self, store: Store) -> None:
        store.put("t/k.bin", b"12345")
        if not store.capabilities.mtime:
            with pytest.raises(NotSupportedError, match="capabilities"):
                store.mtime("t/k.bin")
            return
        # the server's clock (S3 LastModified, whole seconds) against ours: a generous bound
        assert abs(store.mtime("t/k.bin") - time.time()) < 300
        mtime, size = store.stat("t/k.bin")
        assert mtime == store.mtime("t/k.bin") and size in (5, None)
        with pytest.raises(NotFoundError):
            store.mtime("t/missing.bin")
        with pytest.raises(NotFoundError):
            store.stat("t/missing.bin")

    # -- root ----------------------------------------------------------------------

    def test_urls_name_the_key(self, store: Store) -> None:
        assert store.full_url("x/y.bin").endswith("x/y.bin")
        assert "secret" not in store.url.lower()
        assert store.temp_keys(["objects"]) == []


class _Minimal(Store):
    """A backend with only the abstract methods (as a wrapper store in a test)."""

    def __init__(self) -> None:
        self.url = "minimal://x"
        self.items: dict[str, bytes] = {}

    def get(self, key: str) -> bytes:
        try:
            return self.items[key]
        except KeyError:
            raise NotFoundError(key) from None

    def put(self, key: str, data: bytes) -> None:
        self.items[key] = data

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self.items.setdefault(key, data) is data

    def exists(self, key: str) -> bool:
        return key in self.items

    def list(self, prefix: str) -> Any:
        return (k for k in list(self.items) if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self.items.pop(key, None)


def test_a_store_declaring_nothing_refuses_clearly() -> None:
    store = _Minimal()
    assert store.capabilities == Capabilities()
    assert not store.capabilities.ordered_listing and not store.capabilities.mtime
    with pytest.raises(NotSupportedError, match=r"minimal://x \(_Minimal\) has no an? "):
        store.list_page("x/")
    with pytest.raises(NotSupportedError, match="list_page"):  # (it lists with list_page)
        store.list_page_etags("x/")
    with pytest.raises(NotImplementedError):  # (a NotSupportedError is one)
        store.mtime("k")
    store.put("k", b"v")
    assert store.exists_many(["k", "j"]) == [True, False]  # sequential fallback
    store.supports_conditional_create = False  # the old attribute still sets the flag
    assert store.capabilities == Capabilities(conditional_create=False)
    with pytest.raises(UnsafeStoreError):
        store.check_conditional_create()
