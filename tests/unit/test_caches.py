"""The process-wide caches: one owner (tablelog/caches.py), explicit bounds, clear()."""

from __future__ import annotations

import threading

import pytest

import tablelog
from tablelog import caches
from tablelog.data import frames
from tablelog.errors import ArgumentTypeError
from tablelog.format.chain import STATES
from tablelog.format.manifest import Column
from tablelog.format.state import TableState
from tablelog.objects import open as store_open


def test_count_bound_evicts_the_least_recently_used() -> None:
    lru: caches.LRU[str, int] = caches.LRU("test count", max_items=3, register=False)
    for i, k in enumerate("abc"):
        lru.put(k, i)
    assert lru.get("a") == 0  # a is now the most recent
    lru.put("d", 3)
    assert lru.get("b") is None and [lru.get(k) for k in "acd"] == [0, 2, 3]
    assert len(lru) == 3 and lru.weight == 3
    lru.put("c", 20)  # replacing keeps the count
    assert len(lru) == 3 and lru.get("c") == 20
    assert lru.pop("c") == 20 and lru.pop("c") is None and len(lru) == 2


def test_weight_bound_and_values_heavier_than_it() -> None:
    lru: caches.LRU[str, list[int]] = caches.LRU(
        "test weight", max_weight=10, weight=len, register=False
    )
    lru.put("a", [0] * 4)
    lru.put("b", [0] * 4)
    lru.put("c", [0] * 4)  # 12 > 10: a goes
    assert lru.get("a") is None and lru.weight == 8
    lru.put("huge", [0] * 11)  # never kept, keeps the rest
    assert lru.get("huge") is None and lru.weight == 8
    made: list[str] = []
    assert lru.get_or_make("d", lambda: made.append("d") or [1]) == [1]  # type: ignore[func-returns-value]
    assert lru.get_or_make("d", lambda: made.append("d") or [2]) == [1]  # type: ignore[func-returns-value]
    assert made == ["d"]


def test_a_cache_needs_one_bound() -> None:
    with pytest.raises(ArgumentTypeError):
        caches.LRU("no bound", register=False)
    with pytest.raises(ArgumentTypeError):
        caches.LRU("both", max_items=1, max_weight=1, weight=len, register=False)


def test_threads_never_exceed_the_bound() -> None:
    lru: caches.LRU[int, int] = caches.LRU("test threads", max_items=50, register=False)

    def hammer(base: int) -> None:
        for i in range(2000):
            lru.put(base * 10_000 + i, i)
            lru.get(base * 10_000 + i // 2)

    workers = [threading.Thread(target=hammer, args=(b,)) for b in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(lru) == 50 and lru.weight == 50


def test_the_module_caches_have_one_owner_and_their_bounds() -> None:
    names = caches.registered()
    for name in ("table states", "newest versions", "open stores", "polars dtypes"):
        assert names.count(name) == 1, names
    assert store_open._STORES.max_items == caches.STORES
    assert frames._DTYPES.max_items == caches.DTYPES  # (unbounded before)


def test_clear_empties_every_cache() -> None:
    STATES.put(TableState(version=0, digest="c" * 64))
    STATES.saw("some/table", 3)
    frames.polars_schema((Column(name="x", kind="number", arrow="int64"),))
    assert STATES.get("c" * 64) is not None and STATES.newest("some/table") == 3
    assert len(frames._DTYPES) > 0
    tablelog.clear_caches()
    assert STATES.get("c" * 64) is None and STATES.newest("some/table") == -1
    assert len(frames._DTYPES) == 0


def test_the_dtype_cache_stays_within_its_bound() -> None:
    """Distinct types (a hostile manifest can name many) no longer grow it without end."""
    bound = frames._DTYPES.max_items
    assert bound is not None
    caches.clear()
    for i in range(bound + 40):
        frames.polars_schema(
            (Column(name="x", kind="other", arrow={"struct": [[f"f{i}", "int64"]]}),)
        )
    assert len(frames._DTYPES) == bound
    caches.clear()
