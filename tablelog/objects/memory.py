"""An in-process store for tests and notebooks: ``memory://name``.

Handles opened on the same ``memory://`` URL share fsspec's process-wide memory
filesystem, so a run and a reader in one process see the same objects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import fsspec

from tablelog.errors import NotFoundError
from tablelog.objects.store import Capabilities, Store


class MemoryStore(Store):
    """Objects in fsspec's memory filesystem; create-if-absent under a lock."""

    capabilities = Capabilities(conditional_create=True, mtime=True)
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._base = self.url.removeprefix("memory://").strip("/")
        self._fs: Any = fsspec.filesystem("memory")

    def _path(self, key: str) -> str:
        return f"/{self._base}/{key}" if self._base else f"/{key}"

    def get(self, key: str) -> bytes:
        try:
            return bytes(self._fs.cat_file(self._path(key)))
        except FileNotFoundError as e:
            raise NotFoundError(f"{self.url}/{key} does not exist") from e

    def get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            return bytes(self._fs.cat_file(self._path(key), start=start, end=end))
        except FileNotFoundError as e:
            raise NotFoundError(f"{self.url}/{key} does not exist") from e

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._fs.pipe_file(self._path(key), bytes(data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with self._lock:
            if self._fs.exists(self._path(key)):
                return False
            self._fs.pipe_file(self._path(key), bytes(data))
            return True

    def exists(self, key: str) -> bool:
        return bool(self._fs.exists(self._path(key)))

    def list(self, prefix: str) -> Iterator[str]:
        root = self._path("")
        path = self._path(prefix).rstrip("/")
        if not self._fs.exists(path):
            return
        for p in self._fs.find(path):
            yield str(p)[len(root) :]

    def delete(self, key: str) -> None:
        with self._lock:
            if self._fs.exists(self._path(key)):
                self._fs.rm_file(self._path(key))

    def mtime(self, key: str) -> float:
        return self.stat(key)[0]

    def stat(self, key: str) -> tuple[float, int | None]:
        try:
            info = self._fs.info(self._path(key))
        except FileNotFoundError as e:
            raise NotFoundError(f"{self.url}/{key} does not exist") from e
        return float(info["created"].timestamp()), int(info["size"])

    def reader_source(self, key: str) -> str | bytes:
        # Polars cannot open memory:// URLs, so readers get the bytes.
        return self.get(key)
