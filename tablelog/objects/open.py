"""Open a store from a root URL."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import fsspec

from tablelog.caches import LRU, STORES
from tablelog.errors import InvalidRootError, StoreError
from tablelog.objects.local import LocalStore
from tablelog.objects.memory import MemoryStore
from tablelog.objects.store import Store

DEFAULT_ROOT = "./tablelog-data"
#: "s3:/bucket/x": a URL scheme with one slash, which would otherwise be a local folder
#: "./s3:". A single letter before the colon is a Windows drive ("C:/data"), not refused.
_ONE_SLASH = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/(?!/)")


def resolve_root(root: str | os.PathLike[str] | None) -> str:
    """``root``, else ``$TABLELOG_ROOT``, else the embedded ``./tablelog-data``."""
    if root is None:
        root = os.environ.get("TABLELOG_ROOT") or DEFAULT_ROOT
    return os.fspath(root)


def open_store(
    root: str | os.PathLike[str] | None = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> Store:
    """The store for ``root``: a folder, ``file://``, ``memory://``, ``s3://``, any fsspec URL."""
    url = resolve_root(root)
    if "://" not in url:
        if _ONE_SLASH.match(url):
            raise InvalidRootError(
                f"root {url!r} looks like a URL with one slash after the colon: write "
                f"{_ONE_SLASH.sub(lambda m: m[1] + '://', url, count=1)!r} (two slashes), or "
                "'./' before it for a local folder of that name"
            )
        return LocalStore(url)
    protocol, rest = url.split("://", 1)
    if protocol != protocol.lower():  # S3://bucket is s3://bucket, as for AWS' own tools
        protocol = protocol.lower()
        url = f"{protocol}://{rest}"
    if protocol == "file":
        return LocalStore(url.split("://", 1)[1])
    if protocol == "memory":
        return MemoryStore(url)
    if protocol not in fsspec.available_protocols():
        raise StoreError(
            f"unknown protocol {protocol!r} in root {url!r}: use a local folder, "
            "file://, memory://, s3:// or another fsspec protocol"
        )
    return _fsspec_store(url, storage_options)


#: Open network stores, reused: creating an S3 client costs ~100 ms and every
#: ``scan``/``history`` call opens its root. Keyed by everything that decides which
#: server and identity a store talks to (URL, options, AWS_* environment, process).
_STORES: LRU[str, Store] = LRU("open stores", max_items=STORES)


def _fsspec_store(url: str, storage_options: Mapping[str, Any] | None) -> Store:
    aws_env = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    try:
        ident = json.dumps([url, storage_options or {}, aws_env, os.getpid()], sort_keys=True)
    except TypeError:  # options that are not plain data (a session object): no reuse
        return _new_fsspec_store(url, storage_options)
    key = hashlib.sha256(ident.encode()).hexdigest()
    return _STORES.get_or_make(key, lambda: _new_fsspec_store(url, storage_options))


def _new_fsspec_store(url: str, storage_options: Mapping[str, Any] | None) -> Store:
    from tablelog.objects.fsspec_store import FsspecStore

    try:
        return FsspecStore(url, storage_options)
    except ImportError as e:
        raise StoreError(f"root {url!r} needs an fsspec backend that is not installed: {e}") from e


def clear_store_cache() -> None:
    """Forget the reused network stores (the next open creates a new client)."""
    _STORES.clear()
