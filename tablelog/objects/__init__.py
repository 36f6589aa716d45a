"""Object layer: a small store contract over local folders, memory and fsspec URLs."""

from typing import TYPE_CHECKING, Any

from tablelog.objects.cas import digest_of, put_content
from tablelog.objects.store import Store

if TYPE_CHECKING:
    from tablelog.objects.open import open_store


def __getattr__(name: str) -> Any:
    # The backends load on first use: importing content addressing (``objects.cas``)
    # loads no store backend.
    if name == "open_store":
        from tablelog.objects.open import open_store

        return open_store
    raise AttributeError(f"module 'tablelog.objects' has no attribute {name!r}")


__all__ = ["Store", "digest_of", "open_store", "put_content"]
