"""The store contract every backend implements.

Keys are ``/``-separated relative paths below the store's root; they are built in
:mod:`tablelog.format.paths` only. What a backend can do beyond the abstract methods
is declared in :class:`Capabilities`, never probed for (``None`` replies,
``NotImplementedError``, ``getattr`` or a check of the concrete class).
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tablelog.errors import NotSupportedError, UnsafeStoreError


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a store can do; each flag True means the behaviour holds (the conformance
    tests check it), False means the method refuses with ``NotSupportedError`` or
    falls back as its docstring says."""

    #: :meth:`Store.put_if_absent` is atomic (If-None-Match: *, ``os.link``, a lock);
    #: False: it checks, then writes, and concurrent committing is refused.
    conditional_create: bool = True
    #: :meth:`Store.list_page`: one request lists keys in order after ``start_after``.
    ordered_listing: bool = False
    #: :meth:`Store.exists_many` sends its HEADs concurrently (else one after another).
    parallel_heads: bool = False
    #: :meth:`Store.mtime` and :meth:`Store.stat` give the modification time.
    mtime: bool = False
    #: Uploads gain from running several at once (network stores). Local disks do not,
    #: and the extra threads only compete with the caller for the GIL.
    parallel_uploads: bool = False


class Store(abc.ABC):
    """A flat key/bytes store with create-if-absent.

    Attributes
    ----------
    url:
        The root URL, without credentials (safe to print).
    capabilities:
        What this backend can do (:class:`Capabilities`).
    """

    url: str
    capabilities: Capabilities = Capabilities()
    #: Seconds one request can take at most before it fails (connect + read timeouts
    #: of a network store; 0 for local ones). See ``tablelog.objects.deadline``.
    request_timeout: float = 0.0
    #: Whether each call is a round trip to a server (S3 and other network stores).
    #: There, finding a table's newest version costs requests, so writers keep its
    #: latest-version hint fresh while they commit (docs/format.md, "Latest-version
    #: hint"); on local stores a search costs microseconds and they write it less.
    remote: bool = False

    @property
    def supports_conditional_create(self) -> bool:
        """``capabilities.conditional_create`` (the name callers used before)."""
        return self.capabilities.conditional_create

    @supports_conditional_create.setter
    def supports_conditional_create(self, value: bool) -> None:
        self.capabilities = dataclasses.replace(self.capabilities, conditional_create=value)

    @property
    def parallel_uploads(self) -> bool:
        """``capabilities.parallel_uploads``."""
        return self.capabilities.parallel_uploads

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
    ) -> tuple[builtins.list[str], bool]:
        """One listing request: up to ``max_keys`` keys below ``prefix`` after
        ``start_after`` in key order, and whether more follow. Only with
        ``capabilities.ordered_listing``; otherwise ``NotSupportedError``."""
        raise self._unsupported("an ordered listing (list_page)")

    def list_page_etags(
        self, prefix: str, *, start_after: str | None = None, max_keys: int = 1000
    ) -> tuple[builtins.list[tuple[str, str]], bool]:
        """:meth:`list_page`, each key with the ETag the server lists for it (quotes
        stripped, lower case; "" if none). For a plain PUT, S3 look-alikes make it the
        hex MD5 of the object's bytes; not with some server-side encryption (SSE-KMS)
        or for multipart uploads, so a caller may take a match, never a mismatch, to
        mean anything. By default: :meth:`list_page`'s keys, each with "" (so a store
        that only lists keys still answers)."""
        keys, more = self.list_page(prefix, start_after=start_after, max_keys=max_keys)
        return [(key, "") for key in keys], more

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
        """:meth:`exists` of several keys, concurrently with
        ``capabilities.parallel_heads``."""
        return [self.exists(k) for k in keys]

    def mtime(self, key: str) -> float:
        """Last-modified time of ``key`` as a POSIX timestamp (``NotFoundError`` when
        absent). Only with ``capabilities.mtime``; otherwise ``NotSupportedError``."""
        raise self._unsupported("modification times (mtime)")

    def stat(self, key: str) -> tuple[float, int | None]:
        """(last-modified time, size in bytes) of ``key`` in one request where the
        backend gives both; size None where it does not. ``NotFoundError`` when ``key``
        is gone; only with ``capabilities.mtime``, otherwise ``NotSupportedError``."""
        return self.mtime(key), None

    def temp_keys(self, prefixes: Sequence[str]) -> builtins.list[str]:
        """Keys below ``prefixes`` of temporary files a crashed writer may have left,
        which :meth:`list` hides ([] for stores that write in one request)."""
        return []

    def check_conditional_create(self) -> None:
        """Raise ``UnsafeStoreError`` unless :meth:`put_if_absent` is atomic here.

        Backends whose answer depends on the server (S3 look-alikes) prove it once."""
        if not self.capabilities.conditional_create:
            raise UnsafeStoreError(
                f"{self.url} does not create objects exclusively, so two writers could "
                "overwrite each other's versions; use a store that does, or pass "
                "single_writer=True to tablelog.init if only one process ever writes here"
            )

    def _unsupported(self, what: str) -> NotSupportedError:
        return NotSupportedError(
            f"{self.url} ({type(self).__name__}) has no {what}: check store.capabilities "
            "before calling it"
        )

    def close(self) -> None:
        """Let go of what the store runs beside its objects (a child process, for
        ``ProcessStore``); later calls still work. Nothing to do for most stores."""
        return None

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
