"""Content addressing: an object's name is the SHA-256 of its bytes."""

from __future__ import annotations

import hashlib

from tablelog.errors import FormatError, NotFoundError, StoreError
from tablelog.objects.store import Store


def digest_of(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def put_content(store: Store, key: str, data: bytes) -> None:
    """Store ``data`` at its content-addressed ``key``; a no-op if it is already there.

    Identical bytes have identical keys, so losing the race to another writer (or
    retrying an upload whose reply was lost) is harmless. For the same reason a failed
    create whose object is nevertheless there succeeded: a lost reply, or a retried
    CompleteMultipartUpload that finds its upload already completed (moto answers 404,
    SeaweedFS closes the connection).
    """
    try:
        store.put_if_absent(key, data)
    except (StoreError, NotFoundError):
        try:
            there = store.exists(key)
        except (StoreError, NotFoundError):
            there = False
        if not there:
            raise


def get_verified(store: Store, key: str, digest: str) -> bytes:
    """Fetch ``key`` and check that its bytes hash to ``digest``."""
    data = store.get(key)
    actual = digest_of(data)
    if actual != digest:
        raise FormatError(
            f"object {store.full_url(key)} is corrupt: its bytes hash to {actual[:12]}…, "
            f"not {digest[:12]}…; restore it from a backup or run `tablelog verify`"
        )
    return data
