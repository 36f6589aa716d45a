"""The store contract every backend implements.

Keys are ``/``-separated relative paths below the store's root; they are built in
:mod:`tablelog.format.paths` only.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Iterator, Mapping
from typing import Any


class Store(abc.ABC):
    """A flat key/bytes store with create-if-absent.

    Attributes
    ----------
    url:
        The root URL, without credentials (safe to print).
    supports_conditional_create:
        True when :meth:`put_if_absent` is atomic on this backend.
    """

    url: str
    supports_conditional_create: bool = True
    #: Whether uploads gain from running several at once (network stores). Local
    #: disks do not, and the extra threads only compete with the caller for the GIL.
    parallel_uploads: bool = False
    #: Seconds one request can take at most before it fails (connect + read timeouts
    #: of a network store; 0 for local ones). See ``tablelog.objects.deadline``.
    request_timeout: float = 0.0
    #: Whether each call is a round trip to a server (S3 and other network stores).
    #: There, finding a table's newest version costs requests, so writers keep its
    #: latest-version hint fresh while they commit (docs/format.md, "Latest-version
    #: hint"); on local stores a search costs microseconds and they write it less.
    remote: bool = False

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the bytes at ``key``; raise ``NotFoundError`` when absent."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key``, replacing anything there."""

    @abc.abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Atomically create ``key``; return False (and write nothing) if it exists."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[str]:
        """Yield every key below ``prefix`` (recursively), in no particular order."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting an absent key is not an error."""

    def list_page(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
    ) -> tuple[builtins.list[str], bool] | None:
        """One listing request: up to ``max_keys`` keys below ``prefix`` after
        ``start_after`` in key order, and whether more follow. None when the backend has
        no cheap ordered listing."""
        return None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end - 1`` of ``key`` (fewer if the object is shorter);
        raise ``NotFoundError`` when absent.

        One ranged request on network stores, so that reading a small object that
        anyone with write access could have replaced (a latest-version hint) never
        downloads more than ``end - start`` bytes.
        """
        return self.get(key)[start:end]

    def get_many_or_none(self, keys: builtins.list[str]) -> builtins.list[bytes | None]:
        """:meth:`get_many`, with None for each key that does not exist (not an
        error); in parallel where the backend can. A GET of an absent key costs what a
        HEAD of it costs, so this also answers "does it exist" for keys that might."""
        out: builtins.list[bytes | None] = []
        for k in keys:
            try:
                out.append(self.get(k))
            except FileNotFoundError:  # (NotFoundError subclasses it)
                out.append(None)
        return out

    def exists_many(self, keys: builtins.list[str]) -> builtins.list[bool]:
        """:meth:`exists` of several keys, in parallel where the backend can."""
        return [self.exists(k) for k in keys]

    def mtime(self, key: str) -> float:
        """Last-modified time of ``key`` as a POSIX timestamp."""
        raise NotImplementedError

    def stat(self, key: str) -> tuple[float, int | None]:
        """(last-modified time, size in bytes) of ``key`` in one request where the
        backend gives both; size None where it does not. Raises ``FileNotFoundError``
        or :class:`~tablelog.NotFoundError` when ``key`` is gone, and the backend's own
        error otherwise (gc falls back to :meth:`mtime`)."""
        return self.mtime(key), None

    def root_exists(self) -> bool:
        """Whether the root's folder or bucket exists (checked, never created), so that a
        typo in a root can be told apart from an empty store."""
        return True

    def get_many(self, keys: builtins.list[str]) -> builtins.list[bytes]:
        """Fetch several keys, in parallel where the backend can."""
        return [self.get(k) for k in keys]

    def full_url(self, key: str) -> str:
        """A URL other readers (Polars, DuckDB) can open for ``key``."""
        return f"{self.url.rstrip('/')}/{key}"

    def reader_source(self, key: str) -> str | bytes:
        """What a Polars reader is given for ``key``: a URL, or the bytes themselves."""
        return self.full_url(key)

    def reader_options(self) -> Mapping[str, Any] | None:
        """Options a Polars reader needs to open :meth:`full_url` (object_store keys)."""
        return None
