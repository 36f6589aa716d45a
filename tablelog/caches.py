"""Every cache tablelog keeps in a process: one class, the bounds, and :func:`clear`.

A cache here only ever holds what can be recomputed exactly (a table state is keyed
by its manifest's digest, a store by everything that decides whom it talks to, a
Polars type by the JSON of its Arrow type), so clearing one is never needed for
correctness; tests and benchmarks clear them to start cold. Each is bounded, least
recently used out, and safe across threads.

This module imports nothing from tablelog but its errors, so every layer can own a
cache made here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from tablelog.errors import ArgumentTypeError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# -- the bounds -----------------------------------------------------------------------

#: Table states (``format.chain.STATES``), weighed by their fragments (+1 each):
#: ~100k fragments are tens of MB of Python objects at most.
STATE_FRAGMENTS = 100_000
#: Tables whose newest version is remembered (where the next search starts).
NEWEST_TABLES = 10_000
#: Open network stores (``objects.open``): an S3 client costs ~100 ms to create.
STORES = 16
#: Polars types by the JSON of their Arrow type (``read.frames``): a schema's worth of
#: distinct types each; unbounded before, a process reading hostile manifests could
#: fill it with distinct struct types.
DTYPES = 1_024
#: Page chunks and filter matches of the viewer (``ui.pages.CACHE``), and the largest
#: frame (rows) it keeps.
UI_FRAMES = 64
UI_FRAME_ROWS = 2_000_000


class LRU(Generic[K, V]):
    """A bounded map, least recently used out: by count (``max_items``) or by total
    ``weight`` (``max_weight``; a value heavier than the bound is never kept)."""

    def __init__(
        self,
        name: str,
        *,
        max_items: int | None = None,
        max_weight: int | None = None,
        weight: Callable[[V], int] | None = None,
        register: bool = True,
    ) -> None:
        if (max_items is None) == (max_weight is None) or (max_weight is None) != (weight is None):
            raise ArgumentTypeError("give max_items, or max_weight with weight")
        self.name = name
        self.max_items = max_items
        self.max_weight = max_weight
        self._weight = weight
        self._held = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        if register:
            with _REGISTRY_LOCK:
                _REGISTRY.append(self)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def weight(self) -> int:
        """The total weight held (the item count without a ``weight`` function)."""
        with self._lock:
            return self._held

    def _weigh(self, value: V) -> int:
        return 1 if self._weight is None else self._weight(value)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        w = self._weigh(value)
        bound = self.max_items if self.max_weight is None else self.max_weight
        assert bound is not None
        if w > bound:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._held -= self._weigh(old)
            self._items[key] = value
            self._held += w
            while self._held > bound:
                _, gone = self._items.popitem(last=False)
                self._held -= self._weigh(gone)

    def pop(self, key: K) -> V | None:
        with self._lock:
            value = self._items.pop(key, None)
            if value is not None:
                self._held -= self._weigh(value)
            return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The value at ``key``, else ``make()`` (outside the lock), kept."""
        found = self.get(key)
        if found is not None:
            return found
        value = make()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0


_REGISTRY: list[LRU[Any, Any]] = []
_REGISTRY_LOCK = threading.Lock()


def registered() -> list[str]:
    """The names of the process-wide caches made so far (their modules imported)."""
    with _REGISTRY_LOCK:
        return [c.name for c in _REGISTRY]


def clear() -> None:
    """Empty every process-wide cache (tests, and benchmarks timing a cold read)."""
    with _REGISTRY_LOCK:
        owned = list(_REGISTRY)
    for cache in owned:
        cache.clear()
