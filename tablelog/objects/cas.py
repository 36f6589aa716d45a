"""Content addressing: an object's name is the SHA-256 of its bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

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


def digest_in_key(key: str) -> str:
    """The digest a content-addressed key names (``objects/ab/<digest>.parquet`` ->
    ``<digest>``)."""
    return key.rsplit("/", 1)[1].split(".", 1)[0]


def check_digest(
    data: bytes,
    digest: str,
    *,
    what: str,
    advice: str = "restore it from a backup or run `tablelog verify`",
) -> bytes:
    """``data``, checked to hash to ``digest``: the one rule for content read back.
    A mismatch is a :class:`FormatError` naming ``what`` (e.g. ``"object <url>"``)
    and saying what to do (``advice``)."""
    actual = digest_of(data)
    if actual != digest:
        raise FormatError(
            f"{what} is corrupt: its bytes hash to {actual[:12]}…, not {digest[:12]}…; {advice}"
        )
    return data


def get_verified(store: Store, key: str, digest: str) -> bytes:
    """Fetch ``key`` and check that its bytes hash to ``digest``."""
    return check_digest(store.get(key), digest, what=f"object {store.full_url(key)}")


def get_present(
    store: Store, keys: list[str], *, batch: int = 256
) -> Iterator[tuple[str, bytes | None]]:
    """(key, bytes, or None when it is gone) of each of ``keys``, in order, fetched in
    parallel batches of ``batch``."""
    for i in range(0, len(keys), batch):
        part = keys[i : i + batch]
        try:
            datas: list[bytes | None] = list(store.get_many(part))
        except NotFoundError:
            datas = []
            for k in part:
                try:
                    datas.append(store.get(k))
                except NotFoundError:
                    datas.append(None)
        yield from zip(part, datas, strict=True)
