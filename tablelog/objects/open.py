"""Open a store from a root URL."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import fsspec

from tablelog.errors import StoreError
from tablelog.objects.local import LocalStore
from tablelog.objects.memory import MemoryStore
from tablelog.objects.store import Store

DEFAULT_ROOT = "./tablelog-data"


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
        return LocalStore(url)
    protocol = url.split("://", 1)[0].lower()
    if protocol == "file":
        return LocalStore(url.split("://", 1)[1])
    if protocol == "memory":
        return MemoryStore(url)
    if protocol not in fsspec.available_protocols():
        raise StoreError(
            f"unknown protocol {protocol!r} in root {url!r}: use a local folder, "
            "file://, memory://, s3:// or another fsspec protocol"
        )
    from tablelog.objects.fsspec_store import FsspecStore

    try:
        return FsspecStore(url, storage_options)
    except ImportError as e:
        raise StoreError(f"root {url!r} needs an fsspec backend that is not installed: {e}") from e
